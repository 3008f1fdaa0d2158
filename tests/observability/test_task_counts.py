"""The task counts behind atelier_tasks_*_total: each task counted once, by the scripts
that create and end it, whichever way it ends (its worker, a cancel, a lost worker),
and never by a write that did not apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from actors.records import ResultInfo, TaskKind, TaskStatus
from actors.store.counts import TaskCounts
from actors.store.tasks import TaskStore
from tests.actors.factories import created, lapse, new_task, running

TTL = 60
IMAGE, FACES = TaskKind.IMAGE_GENERATION, TaskKind.FACE_SWAP


@pytest.fixture
def store(redis_url: str) -> Iterator[TaskStore]:
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-{uuid.uuid4().hex}:"
    yield TaskStore(client, prefix=prefix, ttl=TTL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def test_every_ending_counts_once_by_kind_status_and_error_code(store: TaskStore) -> None:
    succeeded = running(store)
    assert store.succeed(succeeded, ResultInfo(width=8, height=8), b"png") is not None
    assert store.succeed(succeeded, ResultInfo(width=8, height=8), b"png") is None  # no-op
    failed = running(store, new_task(kind=FACES))
    assert store.fail(failed, "NO_FACE_FOUND", "no face") is not None
    assert store.cancel(created(store).id) is not None  # cancelled while queued
    lost = running(store)
    lapse(store, lost.id)
    reaped = store.reap(lost.id, max_attempts=1)
    assert reaped is not None and reaped.error_code == "WORKER_LOST"
    # A replayed submission is the first task again: not counted twice.
    keyed = new_task()
    store.create(keyed, {}, idempotency_key="once")
    store.create(new_task(), {}, idempotency_key="once")

    assert store.counts() == TaskCounts(
        submitted={IMAGE: 4, FACES: 1},
        finished={
            (IMAGE, TaskStatus.SUCCEEDED): 1,
            (FACES, TaskStatus.FAILED): 1,
            (IMAGE, TaskStatus.CANCELLED): 1,
            (IMAGE, TaskStatus.FAILED): 1,
        },
        failed={(FACES, "NO_FACE_FOUND"): 1, (IMAGE, "WORKER_LOST"): 1},
    )


def test_the_counts_expire_one_ttl_after_the_last_task_ends(store: TaskStore) -> None:
    queued = created(store)
    assert store.client.ttl(store.counts_key) == -1  # a task is live: no expiry yet

    store.cancel(queued.id)

    assert 0 < store.client.ttl(store.counts_key) <= TTL
