"""Leases, reaping, hand-back and dispatch marks in the task store, against a real Redis.

A lease lapses either by the clock (a store with a tiny lease, and a short sleep) or
at once by setting its expiry to 0 (`lapse`), as if the worker had died long ago.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from actors.records import ResultInfo, TaskKind, TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from tests.actors.conftest import TTL
from tests.actors.factories import (
    assert_expires_within_ttl,
    created,
    keys_of,
    lapse,
    new_task,
    running,
    zset_ids,
)

PNG = b"\x89PNG\r\n\x1a\nresult"
PREVIEW = b"\x89PNG\r\n\x1a\npreview"
SOURCE = b"\x89PNG\r\n\x1a\nsource"
INFO = ResultInfo(width=4, height=3, metadata={"model": "stand-in"})


def redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def lease_expiry(store: TaskStore, task_id: str) -> float | None:
    return store.client.zscore(store.leases_key, task_id)


def short_lived(client: redis.Redis, prefix: str, **timing: float) -> TaskStore:
    """A second view of the test's store (same prefix, cleaned up with it) with other timings."""
    return TaskStore(client, prefix=prefix, ttl=TTL, **timing)


# -- start and the lease ---------------------------------------------------------------


def test_start_puts_the_task_under_a_lease_by_redis_clock(store: TaskStore) -> None:
    record = created(store)

    before = redis_ms(store.client)
    started = store.start(record.id, worker="host:1")
    after = redis_ms(store.client)

    assert started is not None and started.worker == "host:1"
    expiry = lease_expiry(store, record.id)
    assert expiry is not None
    assert before + store.lease_ms <= expiry <= after + store.lease_ms
    assert store.lapsed_leases() == []


def test_start_under_a_live_lease_returns_none_and_changes_nothing(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    # A duplicate message (redelivered, or sent twice by a sweeper) while the task runs.
    record = running(store, image=SOURCE)
    before = {key: client.dump(key) for key in keys_of(client, prefix)}
    expiry = lease_expiry(store, record.id)

    assert store.start(record.id, worker="intruder") is None

    assert store.get(record.id) == record
    assert lease_expiry(store, record.id) == expiry
    assert {key: client.dump(key) for key in keys_of(client, prefix)} == before


def test_start_under_a_lapsed_lease_takes_the_task_over(store: TaskStore) -> None:
    record = running(store)
    lapse(store, record.id)

    taken = store.start(record.id, max_attempts=3, worker="second")

    assert taken is not None
    assert taken.status is TaskStatus.RUNNING
    assert (taken.attempts, taken.lost) == (2, 1)
    assert taken.worker == "second"
    assert taken.seq == record.seq + 1
    assert store.get(record.id) == taken
    expiry = lease_expiry(store, record.id)
    assert expiry is not None and expiry > redis_ms(store.client)
    # The new run's lease is live: a further duplicate is dropped.
    assert store.start(record.id, max_attempts=3) is None


def test_a_lease_lapses_by_redis_clock(store: TaskStore, client: redis.Redis, prefix: str) -> None:
    quick = short_lived(client, prefix, lease_seconds=0.05)
    record = running(quick)

    time.sleep(0.1)

    assert quick.lapsed_leases() == [record.id]
    taken = quick.start(record.id)
    assert taken is not None and (taken.attempts, taken.lost) == (2, 1)


# -- renew -----------------------------------------------------------------------------


def test_renew_extends_the_lease_of_the_run_holding_the_task(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    quick = short_lived(client, prefix, lease_seconds=0.2)
    record = running(quick)

    for _ in range(4):  # 0.4 s in all: twice the lease
        time.sleep(0.1)
        assert quick.renew(record)

    assert quick.lapsed_leases() == []
    assert quick.reap(record.id) is None
    assert quick.get(record.id) == record


def test_renew_of_a_lapsed_but_unclaimed_lease_keeps_the_task(store: TaskStore) -> None:
    # A worker that stalled past its lease but whose task nobody reaped yet carries on.
    record = running(store)
    lapse(store, record.id)

    assert store.renew(record)

    assert store.lapsed_leases() == []
    assert store.start(record.id) is None


def take_over(store: TaskStore, record: TaskRecord) -> None:
    lapse(store, record.id)
    assert store.start(record.id, max_attempts=3) is not None


def reap(store: TaskStore, record: TaskRecord) -> None:
    lapse(store, record.id)
    reaped = store.reap(record.id, max_attempts=3)
    assert reaped is not None and reaped.status is TaskStatus.QUEUED


def reap_then_restart(store: TaskStore, record: TaskRecord) -> None:
    reap(store, record)
    assert store.start(record.id, max_attempts=3) is not None


def succeed(store: TaskStore, record: TaskRecord) -> None:
    assert store.succeed(record, INFO, PNG) is not None


def fail(store: TaskStore, record: TaskRecord) -> None:
    assert store.fail(record, "PIPELINE_ERROR", "boom") is not None


def cancel(store: TaskStore, record: TaskRecord) -> None:
    store.cancel(record.id)
    assert store.cancelled(record) is not None


def hand_back(store: TaskStore, record: TaskRecord) -> None:
    assert store.requeue(record) is not None


ENDINGS_OF_A_RUN: dict[str, Callable[[TaskStore, TaskRecord], None]] = {
    "taken over": take_over,
    "reaped": reap,
    "reaped and restarted": reap_then_restart,
    "succeeded": succeed,
    "failed": fail,
    "cancelled": cancel,
    "handed back": hand_back,
}


@pytest.mark.parametrize("ending", list(ENDINGS_OF_A_RUN))
def test_renew_returns_false_once_the_run_no_longer_holds_the_task(
    store: TaskStore, ending: str
) -> None:
    record = running(store)
    ENDINGS_OF_A_RUN[ending](store, record)
    after = store.get(record.id)
    expiry = lease_expiry(store, record.id)

    assert not store.renew(record)

    assert store.get(record.id) == after
    assert lease_expiry(store, record.id) == expiry


# -- reap ------------------------------------------------------------------------------


def test_reap_requeues_a_task_at_the_front_of_its_queue(store: TaskStore) -> None:
    # It has waited longest: it goes before the tasks queued while it ran.
    first = running(store, new_task(at=0), image=SOURCE)
    waiting = [created(store, new_task(at=at)) for at in (1, 2)]
    lapse(store, first.id)
    assert store.lapsed_leases() == [first.id]

    reaped = store.reap(first.id, max_attempts=2)

    assert reaped is not None
    assert reaped == store.get(first.id)
    assert reaped.status is TaskStatus.QUEUED
    assert (reaped.attempts, reaped.lost) == (1, 1)
    assert reaped.seq == first.seq + 1
    assert reaped.stage == "requeued after its worker was lost"
    assert reaped.worker is None and reaped.step is None and reaped.total_steps is None
    assert reaped.finished_at is None and reaped.expires_at is None
    assert store.queue_position(reaped) == 1
    assert [store.queue_position(task) for task in waiting] == [2, 3]
    assert store.lapsed_leases() == []
    assert first.id not in zset_ids(store, store.leases_key)
    # Marked undispatched until whoever reaped it has sent its message.
    assert first.id in zset_ids(store, store.undispatched_key)
    assert store.input_bytes(first.id, "image") == SOURCE
    assert store.client.ttl(store.key(first.id)) == -1
    # Asked twice (another sweeper): nothing more happens.
    assert store.reap(first.id, max_attempts=2) is None
    assert store.get(first.id) == reaped


def test_requeued_task_starts_again_under_its_next_attempt(store: TaskStore) -> None:
    record = running(store)
    lapse(store, record.id)
    assert store.reap(record.id) is not None

    again = store.start(record.id, worker="second")

    assert again is not None
    assert again.status is TaskStatus.RUNNING
    assert (again.attempts, again.lost, again.worker) == (2, 1, "second")
    assert record.id not in zset_ids(store, store.undispatched_key)
    assert store.queue_position(again) is None


def test_reap_after_the_last_allowed_lost_run_ends_worker_lost_and_expires_every_key(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    record, _ = store.create(new_task(), {"image": SOURCE}, idempotency_key="submit-1")
    other = created(store, new_task(at=1))
    assert client.get(store.live_key("alice")) == b"2"
    first = store.start(record.id, max_attempts=2)
    assert first is not None
    lapse(store, record.id)
    assert store.reap(record.id, max_attempts=2) is not None
    second = store.start(record.id, max_attempts=2)
    assert second is not None
    store.report(second, progress=0.5, stage="denoising", preview=(8, 8, PREVIEW))
    lapse(store, record.id)

    lost = store.reap(record.id, max_attempts=2)

    assert lost is not None
    assert lost == store.get(record.id)
    assert lost.status is TaskStatus.FAILED
    assert lost.error_code == "WORKER_LOST"
    assert (lost.attempts, lost.lost) == (2, 2)
    assert lost.finished_at is not None and lost.expires_at is not None
    assert record.idempotency_ref is not None
    assert_expires_within_ttl(
        client, store.key(record.id), store.key(record.id, "preview"), record.idempotency_ref
    )
    assert client.exists(store.key(record.id, "input:image")) == 0
    assert client.get(store.live_key("alice")) == b"1"
    assert store.queue_position(lost) is None
    assert record.id not in zset_ids(store, store.leases_key)
    assert record.id not in zset_ids(store, store.undispatched_key)

    # Once the owner's other task ends too, nothing of theirs is left without a TTL.
    assert store.cancel(other.id) is not None
    persistent = {key.decode() for key in keys_of(client, prefix) if client.ttl(key) < 0}
    assert persistent == set()  # the emptied queue dropped its ticket counter too
    assert_expires_within_ttl(client, store.owner_key("alice"))


def test_reap_of_a_task_with_a_cancel_request_ends_it_cancelled(
    store: TaskStore, client: redis.Redis
) -> None:
    record = running(store, image=SOURCE)
    requested = store.cancel(record.id)
    assert requested is not None and requested.cancel_requested
    lapse(store, record.id)

    ended = store.reap(record.id, max_attempts=5)

    assert ended is not None
    assert ended == store.get(record.id)
    assert ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "CANCELLED"
    assert ended.seq == requested.seq + 1
    assert_expires_within_ttl(client, store.key(record.id))
    assert client.exists(store.key(record.id, "input:image")) == 0
    assert record.id not in zset_ids(store, store.leases_key)
    assert record.id not in zset_ids(store, store.undispatched_key)


def test_reap_of_a_renewed_lease_returns_none(store: TaskStore) -> None:
    # The sweeper listed the lease as lapsed, then the worker renewed it.
    record = running(store)
    lapse(store, record.id)
    assert store.lapsed_leases() == [record.id]
    assert store.renew(record)

    assert store.reap(record.id) is None

    assert store.get(record.id) == record
    assert store.lapsed_leases() == []


def test_reap_of_a_task_no_longer_running_drops_its_lease_entry(store: TaskStore) -> None:
    record = running(store)
    done = store.succeed(record, INFO, PNG)
    assert done is not None
    store.client.zadd(store.leases_key, {record.id: 0, "no-such-task": 0})

    assert store.reap(record.id) is None
    assert store.reap("no-such-task") is None

    assert store.get(record.id) == done
    assert zset_ids(store, store.leases_key) == set()


# -- superseded runs -------------------------------------------------------------------


WRITES_OF_A_RUN: dict[str, Callable[[TaskStore, TaskRecord], TaskRecord | None]] = {
    "succeed": lambda store, record: store.succeed(record, ResultInfo(width=1, height=1), b"stale"),
    "fail": lambda store, record: store.fail(record, "PIPELINE_ERROR", "stale"),
    "cancelled": lambda store, record: store.cancelled(record),
    "report": lambda store, record: store.report(record, progress=0.99, stage="stale"),
    "requeue": lambda store, record: store.requeue(record),
}


@pytest.mark.parametrize("write", list(WRITES_OF_A_RUN))
@pytest.mark.parametrize("how", ["taken over", "reaped and restarted"])
def test_a_superseded_run_cannot_write_over_the_run_that_replaced_it(
    store: TaskStore, write: str, how: str
) -> None:
    old = running(store)
    ENDINGS_OF_A_RUN[how](store, old)
    new = store.get(old.id)
    assert new is not None and new.status is TaskStatus.RUNNING
    assert new.attempts == old.attempts + 1

    assert WRITES_OF_A_RUN[write](store, old) is None
    assert store.get(old.id) == new

    done = store.succeed(new, INFO, PNG)
    assert done is not None and done.status is TaskStatus.SUCCEEDED
    assert WRITES_OF_A_RUN[write](store, old) is None
    assert store.get(old.id) == done
    assert store.result_png(old.id) == PNG


@pytest.mark.parametrize("write", list(WRITES_OF_A_RUN))
def test_a_reaped_run_cannot_write_while_its_task_waits_in_the_queue(
    store: TaskStore, write: str
) -> None:
    old = running(store)
    reap(store, old)
    waiting = store.get(old.id)
    assert waiting is not None

    assert WRITES_OF_A_RUN[write](store, old) is None

    assert store.get(old.id) == waiting
    assert store.result_png(old.id) is None


# -- requeue (a worker shutting down) --------------------------------------------------


def test_requeue_hands_the_task_back_without_counting_it_lost(store: TaskStore) -> None:
    record = running(store, new_task(at=0), image=SOURCE)
    behind = created(store, new_task(at=1))
    reported = store.report(record, progress=0.4, stage="removing background", step=2)
    assert reported is not None

    back = store.requeue(reported)

    assert back is not None
    assert back == store.get(record.id)
    assert back.status is TaskStatus.QUEUED
    assert (back.attempts, back.lost) == (1, 0)
    assert back.seq == reported.seq + 1
    assert back.stage == "requeued: its worker shut down"
    assert back.worker is None and back.step is None
    assert store.queue_position(back) == 1  # ahead: it has waited longest
    assert store.queue_position(behind) == 2
    assert record.id not in zset_ids(store, store.leases_key)
    assert record.id in zset_ids(store, store.undispatched_key)
    assert store.input_bytes(record.id, "image") == SOURCE
    assert store.requeue(reported) is None  # handed back once

    again = store.start(record.id, worker="next")

    assert again is not None
    assert again.status is TaskStatus.RUNNING
    assert (again.attempts, again.lost, again.worker) == (2, 0, "next")
    assert again.progress == reported.progress  # progress never goes back
    assert record.id not in zset_ids(store, store.undispatched_key)


def test_requeue_of_a_task_with_a_cancel_request_ends_it_cancelled(
    store: TaskStore, client: redis.Redis
) -> None:
    record = running(store, image=SOURCE)
    requested = store.cancel(record.id)
    assert requested is not None

    ended = store.requeue(requested)

    assert ended is not None
    assert ended == store.get(record.id)
    assert ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "CANCELLED"
    assert store.queue_position(ended) is None
    assert_expires_within_ttl(client, store.key(record.id))
    assert client.exists(store.key(record.id, "input:image")) == 0
    assert record.id not in zset_ids(store, store.leases_key)
    assert record.id not in zset_ids(store, store.undispatched_key)


# -- dispatch marks --------------------------------------------------------------------


def test_create_marks_the_task_undispatched_until_dispatched(store: TaskStore) -> None:
    before = redis_ms(store.client)
    record = created(store)
    after = redis_ms(store.client)

    deadline = store.client.zscore(store.undispatched_key, record.id)
    assert deadline is not None
    assert before + store.dispatch_ms <= deadline <= after + store.dispatch_ms

    store.dispatched(record.id)

    assert zset_ids(store, store.undispatched_key) == set()
    store.dispatched(record.id)  # again: harmless
    store.dispatched("no-such-task")


def test_an_idempotent_repeat_marks_nothing_undispatched(store: TaskStore) -> None:
    first, _ = store.create(new_task(), {}, idempotency_key="submit-1")
    store.dispatched(first.id)

    store.create(new_task(at=1), {}, idempotency_key="submit-1")

    assert zset_ids(store, store.undispatched_key) == set()


def test_due_dispatches_lists_only_tasks_past_their_grace(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    quick = short_lived(client, prefix, dispatch_grace=0.05)
    patient = short_lived(client, prefix, dispatch_grace=30)
    late = created(quick, new_task(at=0))
    sent = created(quick, new_task(at=1))
    waiting = created(patient, new_task(at=2))
    quick.dispatched(sent.id)

    time.sleep(0.1)

    assert quick.due_dispatches() == [late.id]
    assert zset_ids(quick, quick.undispatched_key) == {late.id, waiting.id}
    quick.dispatched(late.id)
    assert quick.due_dispatches() == []


def test_start_clears_the_undispatched_mark(store: TaskStore) -> None:
    record = created(store)

    assert store.start(record.id) is not None

    assert zset_ids(store, store.undispatched_key) == set()


def end_queued(how: str) -> Callable[[TaskStore, TaskRecord], TaskRecord | None]:
    def end(store: TaskStore, record: TaskRecord) -> TaskRecord | None:
        if how == "cancel":
            return store.cancel(record.id)
        return store.fail(record, "ENQUEUE_FAILED", "the task could not be queued")

    return end


def end_running(how: str) -> Callable[[TaskStore, TaskRecord], TaskRecord | None]:
    def end(store: TaskStore, record: TaskRecord) -> TaskRecord | None:
        started = store.start(record.id, max_attempts=1)
        assert started is not None
        if how == "succeed":
            return store.succeed(started, INFO, PNG)
        if how == "fail":
            return store.fail(started, "PIPELINE_ERROR", "boom")
        if how in ("cancelled", "requeue cancelled", "reap cancelled"):
            store.cancel(record.id)
            if how == "cancelled":
                return store.cancelled(started)
            if how == "requeue cancelled":
                return store.requeue(started)
        lapse(store, record.id)
        if how == "start worker lost":
            return store.start(record.id, max_attempts=1)
        return store.reap(record.id, max_attempts=1)  # worker lost, or cancelled

    return end


TERMINAL_WRITES = {
    "web fails a queued task": end_queued("fail"),
    "cancel of a queued task": end_queued("cancel"),
    "succeed": end_running("succeed"),
    "fail": end_running("fail"),
    "cancelled": end_running("cancelled"),
    "requeue of a cancelled run": end_running("requeue cancelled"),
    "reap: worker lost": end_running("reap worker lost"),
    "reap of a cancelled run": end_running("reap cancelled"),
    "start: worker lost": end_running("start worker lost"),
}


@pytest.mark.parametrize("ending", list(TERMINAL_WRITES))
def test_a_terminal_write_leaves_the_task_in_neither_leases_nor_undispatched(
    store: TaskStore, ending: str
) -> None:
    record = created(store)
    assert record.id in zset_ids(store, store.undispatched_key)

    final = TERMINAL_WRITES[ending](store, record)

    assert final is not None and final.status.terminal
    assert store.get(record.id) == final
    assert zset_ids(store, store.leases_key) == set()
    assert zset_ids(store, store.undispatched_key) == set()
    assert store.client.zcard(store.queue_key(record.queue)) == 0
    assert store.lapsed_leases() == [] and store.due_dispatches() == []


# -- who may fail a task ---------------------------------------------------------------


def test_the_web_fails_a_task_it_could_not_queue(store: TaskStore) -> None:
    record = created(store, image=SOURCE)
    assert (record.status, record.attempts) == (TaskStatus.QUEUED, 0)

    failed = store.fail(record, "ENQUEUE_FAILED", "the task could not be queued")

    assert failed is not None
    assert failed.status is TaskStatus.FAILED
    assert failed.error_code == "ENQUEUE_FAILED"
    assert store.start(record.id) is None


def test_a_stale_worker_cannot_fail_a_task_that_was_handed_back(store: TaskStore) -> None:
    record = running(store)
    back = store.requeue(record)
    assert back is not None and back.status is TaskStatus.QUEUED

    assert store.fail(record, "PIPELINE_ERROR", "late") is None
    assert store.get(record.id) == back


def test_a_stale_web_record_cannot_fail_a_task_that_already_ran(store: TaskStore) -> None:
    # The web's record of a task (attempt 0) says nothing about the task once it ran.
    record = created(store)
    started = store.start(record.id)
    assert started is not None
    back = store.requeue(started)
    assert back is not None and back.status is TaskStatus.QUEUED

    assert store.fail(record, "ENQUEUE_FAILED", "the task could not be queued") is None
    assert store.get(record.id) == back


def test_tasks_of_other_queues_keep_their_places_when_one_is_reaped(store: TaskStore) -> None:
    image = running(store, new_task(at=0))
    face = created(store, new_task(at=1, kind=TaskKind.FACE_SWAP))
    lapse(store, image.id)

    reaped = store.reap(image.id)

    assert reaped is not None and store.queue_position(reaped) == 1
    assert store.queue_position(face) == 1
