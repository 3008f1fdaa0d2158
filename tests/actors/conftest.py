"""Fixtures for the job system's tests: a real Redis and a task store private to each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from actors.store import TaskStore
from project.devredis import LOCAL_URL, EmbeddedRedis, reachable

TTL = 60


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis on 127.0.0.1:6379 when there is one, else an embedded one."""
    if reachable(LOCAL_URL):
        yield LOCAL_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test (or stack sharing this Redis) uses."""
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
def store(client: redis.Redis, prefix: str) -> Iterator[TaskStore]:
    yield TaskStore(client, prefix=prefix, ttl=TTL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
