"""Task records for tests (distinct ids, creation times that increase with `at`), and
helpers that put them in a store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from actors.kinds import spec_for
from actors.records import TaskKind, TaskRecord
from actors.store.tasks import TaskStore
from tests.actors.conftest import TTL

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def new_task(
    owner: str = "alice",
    *,
    at: float = 0.0,
    kind: TaskKind = TaskKind.IMAGE_GENERATION,
    params: dict[str, Any] | None = None,
) -> TaskRecord:
    """A QUEUED task created `at` seconds after a fixed epoch."""
    return TaskRecord(
        id=str(uuid.uuid4()),
        kind=kind,
        owner=owner,
        queue=spec_for(kind).queue,
        params={"prompt": "a lighthouse at dusk"} if params is None else params,
        created_at=EPOCH + timedelta(seconds=at),
    )


# -- tasks in a store ----------------------------------------------------------------


def created(store: TaskStore, record: TaskRecord | None = None, **inputs: bytes) -> TaskRecord:
    """A task stored QUEUED (and marked undispatched, as `create` leaves it)."""
    task, was_created = store.create(record or new_task(), inputs)
    assert was_created
    return task


def running(store: TaskStore, record: TaskRecord | None = None, **inputs: bytes) -> TaskRecord:
    """A task stored and started: RUNNING under attempt 1 and a live lease."""
    started = store.start(created(store, record, **inputs).id)
    assert started is not None
    return started


def lapse(store: TaskStore, task_id: str) -> None:
    """Make the task's lease run out now, as if its worker had died."""
    store.client.zadd(store.leases_key, {task_id: 0})


def keys_of(client: redis.Redis, prefix: str) -> set[bytes]:
    return set(client.scan_iter(match=f"{prefix}*", count=1000))


def assert_expires_within_ttl(client: redis.Redis, *keys: str) -> None:
    for key in keys:
        ttl = client.ttl(key)
        assert 0 < ttl <= TTL, f"{key} has TTL {ttl}"


def zset_ids(store: TaskStore, key: str) -> set[str]:
    return {member.decode() for member in store.client.zrange(key, 0, -1)}
