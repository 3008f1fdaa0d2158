"""The schema in process: the real websocket consumer and schema of a web node, on
Channels' own test communicator, over a real Redis job system (tasks are recorded and
queued; no worker runs them, so they stay QUEUED until cancelled).

Django is configured once per test process, from an environment set here only while
it loads its settings: nothing else in the suite configures Django in process.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from actors.records import ResultInfo, TaskKind
from actors.store.tasks import TaskStore
from tests.actors.factories import new_task

ALICE = "graph-alice-key-0123456789"
BOB = "graph-bob-key-9876543210"


@pytest.fixture(scope="session")
def consumer(redis_url: str) -> Iterator[Any]:
    """The websocket consumer's ASGI application, as daphne would serve it at /graphql
    (the guards in front of it, origins and connection caps, are tested end to end)."""
    run = uuid.uuid4().hex[:8]
    prefix = f"test-graph-{run}:"
    settings_env = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "REDIS_URL": redis_url,
        "ATELIER_KEY_PREFIX": prefix,
        "ATELIER_BROKER_NAMESPACE": f"test-graph-dramatiq-{run}",
        "ATELIER_CHANNEL_PREFIX": f"test-graph-channels-{run}",
        "ATELIER_API_KEYS": f"alice:{ALICE},bob:{BOB}",
        "ATELIER_SECRET_KEY": "graph-tests",
    }
    # Read once, as Django loads project.settings; the rest of the suite (processes
    # started with this process's environment) must not inherit it.
    saved = {name: os.environ.get(name) for name in settings_env}
    os.environ.update(settings_env)
    try:
        import django

        django.setup()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    from project import services
    from project.edge.consumers import WSConsumer
    from project.edge.wslimits import WebsocketLimits

    config = services.config()
    assert config.jobs.key_prefix == prefix, "Django was configured before this fixture"
    yield WSConsumer.as_asgi(schema=services.schema(), limits=WebsocketLimits.from_config(config))
    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{prefix}*", f"test-graph-dramatiq-{run}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@pytest.fixture
def store(consumer: Any) -> TaskStore:
    """The task store of the web node `consumer` serves (configured by then)."""
    from project import services

    return services.store()


def succeeded(store: TaskStore, info: ResultInfo, *pngs: bytes, kind: TaskKind) -> str:
    """A task of alice's, ended SUCCEEDED with `pngs` as a worker ends it."""
    record, _ = store.create(new_task("alice", kind=kind), {})
    started = store.start(record.id)
    assert started is not None
    assert store.succeed(started, info, pngs[0], pngs[1:]) is not None
    return record.id
