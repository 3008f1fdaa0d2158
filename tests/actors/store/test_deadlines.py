"""Deadlines in the real task store: set on Redis's clock as a task is created, and past
them a QUEUED task ends CANCELLED (DEADLINE_EXCEEDED) without starting, a RUNNING one
is stopped at its next step, and nothing happens to a task that ended first. The tests
move a deadline into the past themselves instead of waiting for it."""

from __future__ import annotations

from typing import cast

import redis

from actors.records import TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.sweeper import Maintenance
from tests.actors.factories import new_task


def submitted(store: TaskStore, seconds: int = 3600) -> TaskRecord:
    record, created = store.create(new_task().evolve(deadline_seconds=seconds), {})
    assert created
    return record


def expire(store: TaskStore, record: TaskRecord) -> None:
    """Move the task's deadline to the epoch, as if its seconds had run out."""
    store.client.hset(store.key(record.id), "deadline_ms", 0)
    store.client.zadd(store.deadlines_key, {record.id: 0})


def redis_ms(client: redis.Redis) -> int:
    seconds, micros = cast(tuple[int, int], client.time())
    return seconds * 1000 + micros // 1000


def test_a_deadline_is_set_on_redis_clock_and_kept_with_the_record(store: TaskStore) -> None:
    before = redis_ms(store.client)
    record = submitted(store, seconds=90)
    after = redis_ms(store.client)

    assert record.deadline_ms is not None
    assert before + 90_000 <= record.deadline_ms <= after + 90_000
    assert store.get(record.id) == record
    assert store.client.zscore(store.deadlines_key, record.id) == record.deadline_ms
    assert store.past_deadlines() == []


def test_a_task_without_a_deadline_has_none(store: TaskStore) -> None:
    record, _ = store.create(new_task(), {})
    assert record.deadline_ms is None and store.get(record.id).deadline_ms is None  # type: ignore[union-attr]
    assert store.client.zcard(store.deadlines_key) == 0


def test_a_queued_task_past_its_deadline_ends_without_starting(store: TaskStore) -> None:
    record = submitted(store)
    expire(store, record)
    assert store.past_deadlines() == [record.id]

    ended = store.enforce_deadline(record.id)

    assert ended is not None and ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "DEADLINE_EXCEEDED" and ended.started_at is None
    assert ended.expires_at is not None
    assert store.queue_position(ended) is None
    assert store.past_deadlines() == []
    assert store.start(record.id) is None  # its message, if it comes, finds it ended


def test_a_queued_task_whose_message_comes_after_its_deadline_is_ended_not_started(
    store: TaskStore,
) -> None:
    record = submitted(store)
    expire(store, record)

    ended = store.start(record.id, worker="w:1")

    assert ended is not None and ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "DEADLINE_EXCEEDED" and ended.attempts == 0
    assert store.past_deadlines() == []


def test_a_running_task_past_its_deadline_stops_at_its_next_step(store: TaskStore) -> None:
    record = submitted(store)
    running = store.start(record.id, worker="w:1")
    assert running is not None and running.status is TaskStatus.RUNNING
    expire(store, record)

    stopping = store.report(running, progress=0.5, stage="denoising", step=3, total_steps=10)
    assert stopping is not None
    assert stopping.cancel_requested and stopping.deadline_exceeded
    assert stopping.step is None  # the step was not recorded: the run stops here
    ended = store.cancelled(stopping)

    assert ended is not None and ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "DEADLINE_EXCEEDED"
    assert store.past_deadlines() == []


def test_the_sweep_flags_a_running_task_whose_worker_reports_nothing(store: TaskStore) -> None:
    published: list[TaskRecord] = []
    sweep = Maintenance(store, lambda r: None, published.append, max_attempts=2)
    record = submitted(store)
    running = store.start(record.id, worker="w:1")
    assert running is not None
    expire(store, record)

    sweep.sweep()
    sweep.sweep()  # flagged once: nothing more to publish

    assert [(r.status, r.cancel_requested, r.deadline_exceeded) for r in published] == [
        (TaskStatus.RUNNING, True, True)
    ]


def test_the_sweep_ends_a_queued_task_past_its_deadline_and_publishes_it(
    store: TaskStore,
) -> None:
    published: list[TaskRecord] = []
    sweep = Maintenance(store, lambda r: None, published.append, max_attempts=2)
    record = submitted(store)
    expire(store, record)

    swept = sweep.sweep()

    assert swept.ended == 1
    assert [(r.id, r.status, r.error_code) for r in published] == [
        (record.id, TaskStatus.CANCELLED, "DEADLINE_EXCEEDED")
    ]


def test_a_task_cancelled_by_its_owner_first_stays_cancelled(store: TaskStore) -> None:
    record = submitted(store)
    running = store.start(record.id, worker="w:1")
    assert running is not None
    asked = store.cancel(record.id)
    assert asked is not None and asked.cancel_requested
    expire(store, record)

    assert store.enforce_deadline(record.id) is None
    ended = store.cancelled(asked)
    assert ended is not None and ended.error_code == "CANCELLED"


def test_a_task_that_finished_in_time_leaves_no_deadline_behind(store: TaskStore) -> None:
    record = submitted(store)
    running = store.start(record.id, worker="w:1")
    assert running is not None
    store.fail(running, "PIPELINE_ERROR", "failed")

    assert store.client.zcard(store.deadlines_key) == 0
    expire(store, record)
    assert store.enforce_deadline(record.id) is None
    assert store.get(record.id).error_code == "PIPELINE_ERROR"  # type: ignore[union-attr]
