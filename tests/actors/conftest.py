"""Fixtures for the job system's tests: a real Redis and a task store private to each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from actors.store.tasks import TaskStore

TTL = 60


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
