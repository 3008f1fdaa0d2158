"""The Redis task store against a real Redis: records, queue, idempotency, outcomes, expiry."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from actors.events import TaskChanged
from actors.records import (
    ResultInfo,
    TaskKind,
    TaskRecord,
    TaskStatus,
    from_hash,
    to_hash,
)
from actors.store.tasks import Step, TaskStore
from tests.actors.conftest import TTL
from tests.actors.factories import (
    assert_expires_within_ttl,
    created,
    keys_of,
    lapse,
    new_task,
    running,
)

PNG = b"\x89PNG\r\n\x1a\nresult"
PREVIEW = b"\x89PNG\r\n\x1a\npreview"
SOURCE = b"\x89PNG\r\n\x1a\nsource"
INFO = ResultInfo(
    width=64,
    height=48,
    seed=1234,
    prompt_used="a lighthouse at dusk, golden hour",
    negative_prompt_used="blurry",
    metadata={"model": "tiny-random", "timings": {"totalMs": 12}},
)


def positions(store: TaskStore, *tasks: TaskRecord) -> list[int | None]:
    return [store.queue_position(store.get(task.id) or task) for task in tasks]


# -- create ------------------------------------------------------------------------


def test_create_stores_a_queued_record_with_its_inputs(store: TaskStore) -> None:
    record, was_created = store.create(new_task(), {"image": SOURCE})

    assert was_created
    assert record.status is TaskStatus.QUEUED
    assert record.seq == 0
    assert record.stage == "queued"
    assert record.params == {"prompt": "a lighthouse at dusk", "_inputs": ["image"]}
    assert store.get(record.id) == record
    assert store.input_bytes(record.id, "image") == SOURCE
    assert store.queue_position(record) == 1


def test_a_queued_task_has_no_ttl_on_its_record_or_inputs(
    store: TaskStore, client: redis.Redis
) -> None:
    record = created(store, image=SOURCE)

    assert client.ttl(store.key(record.id)) == -1
    assert client.ttl(store.key(record.id, "input:image")) == -1


def test_owner_index_lists_tasks_newest_first(store: TaskStore) -> None:
    # Created out of order: the index sorts by created_at, not by insertion.
    tasks = [created(store, new_task(at=at)) for at in (2.0, 0.0, 3.0, 1.0)]
    created(store, new_task("bob", at=9.0))

    listed = store.list_for_owner("alice")

    by_age = sorted(tasks, key=lambda task: task.created_at, reverse=True)
    assert [task.id for task in listed] == [task.id for task in by_age]
    assert [task.created_at for task in listed] == [task.created_at for task in by_age]


def test_queue_position_follows_creation_order_and_falls_as_earlier_tasks_leave(
    store: TaskStore, client: redis.Redis
) -> None:
    a, b, c, d = (created(store, new_task(at=at)) for at in range(4))
    other_queue = created(store, new_task(kind=TaskKind.FACE_SWAP, at=5))
    assert positions(store, a, b, c, d) == [1, 2, 3, 4]
    assert store.queue_position(other_queue) == 1
    # A sorted set of waiting ids: a position is one ZRANK, O(log n).
    assert client.type(store.queue_key(a.queue)) == b"zset"

    store.start(a.id)
    assert positions(store, a, b, c, d) == [None, 1, 2, 3]

    store.cancel(c.id)
    assert positions(store, a, b, c, d) == [None, 1, None, 2]

    store.fail(b, "ENQUEUE_FAILED", "the task could not be queued")
    assert positions(store, a, b, c, d) == [None, None, None, 1]
    assert client.zcard(store.queue_key(a.queue)) == 1


# -- idempotency -------------------------------------------------------------------


def test_same_owner_and_key_returns_the_first_task_and_writes_nothing(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    first, _ = store.create(new_task(), {"image": SOURCE}, idempotency_key="submit-1")
    before = {key: client.dump(key) for key in keys_of(client, prefix)}

    retry = new_task(at=1.0)
    again, was_created = store.create(retry, {"image": b"other"}, idempotency_key="submit-1")

    assert not was_created
    assert again == first
    assert store.get(retry.id) is None
    assert {key: client.dump(key) for key in keys_of(client, prefix)} == before


def test_another_owner_with_the_same_key_gets_a_new_task(store: TaskStore) -> None:
    alice, _ = store.create(new_task("alice"), {}, idempotency_key="submit-1")

    bob, was_created = store.create(new_task("bob"), {}, idempotency_key="submit-1")

    assert was_created
    assert bob.id != alice.id
    assert bob.owner == "bob"
    assert store.get(bob.id) is not None


def test_a_different_key_gets_a_new_task(store: TaskStore) -> None:
    first, _ = store.create(new_task(), {}, idempotency_key="submit-1")

    second, was_created = store.create(new_task(at=1.0), {}, idempotency_key="submit-2")

    assert was_created
    assert second.id != first.id
    assert [task.id for task in store.list_for_owner("alice")] == [second.id, first.id]


def test_idempotency_key_of_a_vanished_task_gives_a_new_task(
    store: TaskStore, client: redis.Redis
) -> None:
    # A record can go before its idempotency key (eviction under maxmemory, an operator's DEL).
    first, _ = store.create(new_task(), {}, idempotency_key="submit-1")
    client.delete(store.key(first.id))

    second, was_created = store.create(new_task(at=1.0), {}, idempotency_key="submit-1")

    assert was_created
    assert second.id != first.id
    assert store.get(second.id) is not None


# -- start ---------------------------------------------------------------------------


def test_start_moves_a_queued_task_to_running_under_attempt_one(store: TaskStore) -> None:
    record = created(store)

    started = store.start(record.id)

    assert started is not None
    assert started.status is TaskStatus.RUNNING
    assert started.stage == "starting"
    assert started.seq == record.seq + 1
    assert started.attempts == 1
    assert started.started_at is not None and started.started_at.tzinfo is not None
    assert store.get(record.id) == started
    assert store.queue_position(started) is None


def test_redelivered_running_task_is_taken_over_then_ends_worker_lost(store: TaskStore) -> None:
    # Dramatiq redelivers the message of a worker that died (its lease lapsed).
    record = created(store)
    first = store.start(record.id, max_attempts=2, worker="one")
    assert first is not None
    lapse(store, record.id)

    second = store.start(record.id, max_attempts=2, worker="two")
    assert second is not None
    assert second.status is TaskStatus.RUNNING and second.stage == "restarting"
    assert (second.attempts, second.lost, second.worker) == (2, 1, "two")
    assert second.started_at is not None and first.started_at is not None
    assert second.started_at >= first.started_at
    lapse(store, record.id)

    lost = store.start(record.id, max_attempts=2, worker="three")
    assert lost is not None
    assert lost.status is TaskStatus.FAILED
    assert lost.error_code == "WORKER_LOST"
    assert (lost.attempts, lost.lost) == (2, 2)
    assert lost.expires_at is not None
    assert store.get(record.id) == lost


def test_writes_of_a_worker_whose_task_was_taken_over_are_refused(store: TaskStore) -> None:
    record = created(store)
    old = store.start(record.id)
    assert old is not None
    lapse(store, record.id)
    new = store.start(record.id)
    assert new is not None and new.attempts == old.attempts + 1

    assert store.report(old, progress=0.9, stage="denoising", step=9, total_steps=10) is None
    assert store.succeed(old, INFO, PNG) is None
    assert store.fail(old, "PIPELINE_ERROR", "late") is None
    assert store.cancelled(old) is None
    assert store.requeue(old) is None
    assert not store.renew(old)
    assert store.get(record.id) == new
    done = store.succeed(new, INFO, PNG)
    assert done is not None and done.status is TaskStatus.SUCCEEDED


def test_redelivered_task_with_a_cancel_request_ends_cancelled(store: TaskStore) -> None:
    record = created(store)
    assert store.start(record.id) is not None
    store.cancel(record.id)
    lapse(store, record.id)

    ended = store.start(record.id)

    assert ended is not None and ended.status is TaskStatus.CANCELLED
    assert ended.error_code == "CANCELLED"
    assert store.get(record.id) == ended


def test_start_of_a_cancelled_task_returns_none(store: TaskStore) -> None:
    record = created(store)
    cancelled = store.cancel(record.id)

    assert store.start(record.id) is None
    assert store.get(record.id) == cancelled


def test_start_of_an_unknown_task_returns_none(store: TaskStore) -> None:
    assert store.start("no-such-task") is None


# -- report --------------------------------------------------------------------------


def test_report_bumps_seq_by_exactly_one_each_time(store: TaskStore) -> None:
    record = running(store)

    seqs = []
    for step in range(1, 6):
        reported = store.report(
            record, progress=0.1 * step, stage="denoising", step=step, total_steps=5
        )
        assert reported is not None
        seqs.append(reported.seq)

    assert seqs == [record.seq + n for n in range(1, 6)]


def test_progress_never_decreases(store: TaskStore) -> None:
    record = running(store)

    store.report(record, progress=0.5, stage="denoising")
    lower = store.report(record, progress=0.3, stage="decoding")
    assert lower is not None
    assert lower.progress == 0.5
    assert lower.stage == "decoding"
    assert lower.seq == record.seq + 2

    higher = store.report(record, progress=0.7, stage="encoding")
    assert higher is not None and higher.progress == 0.7


def test_report_stores_step_and_total_and_keeps_them_between_steps(store: TaskStore) -> None:
    record = running(store)

    stepped = store.report(record, progress=0.2, stage="denoising", step=3, total_steps=30)
    assert stepped is not None
    assert (stepped.step, stepped.total_steps) == (3, 30)

    first = store.report(record, progress=0.05, stage="denoising", step=0, total_steps=30)
    assert first is not None and (first.step, first.total_steps) == (0, 30)

    stageless = store.report(record, progress=0.95, stage="encoding")
    assert stageless is not None and (stageless.step, stageless.total_steps) == (0, 30)


def test_report_with_a_step_but_no_total_keeps_the_record_readable(store: TaskStore) -> None:
    record = running(store)

    reported = store.report(record, progress=0.5, stage="swapping faces", step=1)

    assert reported is not None
    assert reported.step == 1
    assert reported.total_steps is None
    assert store.get(record.id) == reported
    assert [task.id for task in store.list_for_owner("alice")] == [record.id]


def test_report_with_a_preview_stores_its_bytes(store: TaskStore) -> None:
    record = running(store)
    assert not record.has_preview

    reported = store.report(record, progress=0.4, stage="denoising", preview=(32, 24, PREVIEW))

    assert reported is not None
    assert reported.has_preview
    assert (reported.preview_width, reported.preview_height) == (32, 24)
    assert store.preview_png(record.id) == PREVIEW


def test_report_many_writes_each_task_as_report_would_in_one_round_trip(
    store: TaskStore,
) -> None:
    """A batch's members at one step: each written on its own terms (a preview, a
    cancel asked for, a task no longer this run's), answered in order."""
    plain, with_preview, cancelled = (running(store, new_task(at=float(i))) for i in range(3))
    gone = store.fail(running(store, new_task(at=3.0)), "PIPELINE_ERROR", "boom")
    assert gone is not None
    store.cancel(cancelled.id)

    answers = store.report_many(
        [
            (plain, Step(0.5, "denoising", 2, 10)),
            (with_preview, Step(0.5, "denoising", 2, 10, (32, 24, PREVIEW))),
            (cancelled, Step(0.5, "denoising", 2, 10)),
            (gone, Step(0.5, "denoising", 2, 10)),
        ]
    )

    first, second, third, fourth = answers
    assert first is not None and (first.step, first.total_steps) == (2, 10)
    assert second is not None and store.preview_png(with_preview.id) == PREVIEW
    assert third is not None and third.cancel_requested and third.step is None
    assert fourth is None


def test_report_on_a_task_that_is_not_running_returns_none(store: TaskStore) -> None:
    queued = created(store)
    done = running(store, new_task(at=1.0))
    done = store.fail(done, "PIPELINE_ERROR", "boom")
    assert done is not None

    for task in (queued, done):
        assert store.report(task, progress=0.5, stage="denoising") is None
        assert store.get(task.id) == task
    assert store.report(new_task(), progress=0.5, stage="denoising") is None


# -- terminal writes -----------------------------------------------------------------


def test_succeed_stores_result_and_info_and_expires_every_key_together(
    store: TaskStore, client: redis.Redis
) -> None:
    record, _ = store.create(new_task(), {"image": SOURCE}, idempotency_key="submit-1")
    record = store.start(record.id)
    assert record is not None
    record = store.report(record, progress=0.6, stage="denoising", preview=(8, 8, PREVIEW))
    assert record is not None

    before = datetime.now(UTC)
    done = store.succeed(record, INFO, PNG)

    assert done is not None
    assert done == store.get(record.id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.progress == 1.0
    assert done.result == INFO
    assert done.error_code is None
    assert done.seq == record.seq + 1
    assert store.result_png(record.id) == PNG
    assert done.finished_at is not None and done.expires_at is not None
    assert before - timedelta(seconds=1) <= done.finished_at <= datetime.now(UTC)
    assert done.expires_at - done.finished_at == timedelta(seconds=TTL)
    assert record.idempotency_ref is not None
    assert_expires_within_ttl(
        client,
        store.key(record.id),
        store.key(record.id, "result"),
        store.key(record.id, "preview"),
        record.idempotency_ref,
    )
    assert client.exists(store.key(record.id, "input:image")) == 0


def test_fail_records_the_error_and_expires_the_task(store: TaskStore, client: redis.Redis) -> None:
    record = running(store, image=SOURCE)

    failed = store.fail(record, "NO_FACE_FOUND", "no face in the source image")

    assert failed is not None
    assert failed.status is TaskStatus.FAILED
    assert (failed.error_code, failed.error_message) == (
        "NO_FACE_FOUND",
        "no face in the source image",
    )
    assert failed.result is None
    assert failed.expires_at is not None and failed.finished_at is not None
    assert failed.expires_at - failed.finished_at == timedelta(seconds=TTL)
    assert store.result_png(record.id) is None
    assert_expires_within_ttl(client, store.key(record.id))
    assert client.exists(store.key(record.id, "input:image")) == 0


def test_outcome_is_written_once(store: TaskStore) -> None:
    record = running(store)
    done = store.succeed(record, INFO, PNG)
    assert done is not None

    assert store.succeed(record, ResultInfo(width=1, height=1), b"second") is None
    assert store.fail(record, "PIPELINE_ERROR", "late failure") is None
    assert store.cancelled(record) is None
    assert store.get(record.id) == done
    assert store.result_png(record.id) == PNG


def test_a_failed_task_cannot_succeed_afterwards(store: TaskStore) -> None:
    record = running(store)
    failed = store.fail(record, "TIMEOUT", "too slow")

    assert store.succeed(record, INFO, PNG) is None
    assert store.fail(record, "PIPELINE_ERROR", "again") is None
    assert store.get(record.id) == failed
    assert store.result_png(record.id) is None


def test_succeed_of_a_queued_task_is_refused(store: TaskStore) -> None:
    record = created(store)

    assert store.succeed(record, INFO, PNG) is None
    assert store.get(record.id) == record


# -- cancel --------------------------------------------------------------------------


def test_cancel_of_a_queued_task_ends_it_at_once(store: TaskStore, client: redis.Redis) -> None:
    record = created(store, image=SOURCE)

    cancelled = store.cancel(record.id)

    assert cancelled is not None
    assert cancelled == store.get(record.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert cancelled.error_code == "CANCELLED"
    assert cancelled.seq == record.seq + 1
    assert cancelled.expires_at is not None and cancelled.finished_at is not None
    assert cancelled.expires_at - cancelled.finished_at == timedelta(seconds=TTL)
    assert store.queue_position(cancelled) is None
    assert client.zscore(store.queue_key(record.queue), record.id) is None
    assert_expires_within_ttl(client, store.key(record.id))
    assert client.exists(store.key(record.id, "input:image")) == 0
    assert store.start(record.id) is None


def test_cancel_of_a_running_task_requests_it(store: TaskStore) -> None:
    record = running(store)

    requested = store.cancel(record.id)

    assert requested is not None
    assert requested.status is TaskStatus.RUNNING
    assert requested.cancel_requested
    assert requested.seq == record.seq + 1
    assert requested.finished_at is None and requested.expires_at is None
    assert store.cancel(record.id) == requested  # asked twice: nothing new


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_a_cancel_requested_task_ends_cancelled_whatever_the_worker_reports(
    store: TaskStore, outcome: str
) -> None:
    record = running(store)
    store.cancel(record.id)

    if outcome == "succeed":
        final = store.succeed(record, INFO, PNG)
    else:
        final = store.fail(record, "PIPELINE_ERROR", "boom")

    assert final is not None
    assert final.status is TaskStatus.CANCELLED
    assert final.error_code == "CANCELLED"
    assert final.result is None
    assert store.result_png(record.id) is None
    assert store.get(record.id) == final


def test_worker_ends_a_cancel_requested_task_cancelled(store: TaskStore) -> None:
    record = running(store)
    requested = store.cancel(record.id)
    assert requested is not None

    final = store.cancelled(requested)

    assert final is not None
    assert final.status is TaskStatus.CANCELLED
    assert final.error_code == "CANCELLED"
    assert final.seq == requested.seq + 1


@pytest.mark.parametrize("ending", ["succeed", "fail", "cancel"])
def test_cancel_of_a_terminal_task_returns_it_unchanged(store: TaskStore, ending: str) -> None:
    record = running(store)
    if ending == "succeed":
        final = store.succeed(record, INFO, PNG)
    elif ending == "fail":
        final = store.fail(record, "PIPELINE_ERROR", "boom")
    else:
        store.cancel(record.id)
        final = store.cancelled(record)
    assert final is not None

    again = store.cancel(record.id)

    assert again == final
    assert store.get(record.id) == final


def test_cancel_of_an_unknown_task_returns_none(store: TaskStore) -> None:
    assert store.cancel("no-such-task") is None


# -- listing -------------------------------------------------------------------------


def test_list_for_owner_filters_by_status_and_limits(store: TaskStore) -> None:
    tasks = [created(store, new_task(at=at)) for at in range(6)]
    for task in tasks[1::2]:
        store.cancel(task.id)

    cancelled = store.list_for_owner("alice", status=TaskStatus.CANCELLED, limit=2)
    queued = store.list_for_owner("alice", status=TaskStatus.QUEUED)
    newest = store.list_for_owner("alice", limit=4)

    assert [task.id for task in cancelled] == [tasks[5].id, tasks[3].id]
    assert [task.id for task in queued] == [tasks[4].id, tasks[2].id, tasks[0].id]
    assert [task.id for task in newest] == [task.id for task in reversed(tasks[2:])]
    assert store.list_for_owner("alice", status=TaskStatus.RUNNING) == []
    assert store.list_for_owner("nobody") == []


def test_list_for_owner_prunes_ids_whose_records_expired(
    store: TaskStore, client: redis.Redis
) -> None:
    # More than one read batch, with gone ids both at the front and spread through.
    tasks = [created(store, new_task(at=at)) for at in range(50)]
    gone = {task.id for i, task in enumerate(tasks) if i >= 40 or i % 3 == 0}
    client.delete(*(store.key(task_id) for task_id in gone))
    alive = [task.id for task in reversed(tasks) if task.id not in gone]

    assert [task.id for task in store.list_for_owner("alice", limit=20)] == alive[:20]
    assert [task.id for task in store.list_for_owner("alice", limit=100)] == alive
    members = {member.decode() for member in client.zrange(store.owner_key("alice"), 0, -1)}
    assert members == set(alive)


# -- expiry --------------------------------------------------------------------------


def test_no_key_of_a_finished_task_lacks_a_ttl(
    store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    succeeded, _ = store.create(new_task(at=0), {"image": SOURCE}, idempotency_key="a")
    succeeded = store.start(succeeded.id)
    assert succeeded is not None
    store.report(succeeded, progress=0.5, stage="denoising", preview=(8, 8, PREVIEW))
    store.succeed(succeeded, INFO, PNG)

    failed_running = running(store, new_task(at=1, kind=TaskKind.FACE_SWAP), source=SOURCE)
    store.fail(failed_running, "NO_FACE_FOUND", "no face")
    failed_queued, _ = store.create(new_task(at=2), {"image": SOURCE}, idempotency_key="b")
    store.fail(failed_queued, "ENQUEUE_FAILED", "could not queue")

    cancelled_queued, _ = store.create(new_task(at=3), {"image": SOURCE}, idempotency_key="c")
    store.cancel(cancelled_queued.id)
    cancelled_running = running(store, new_task("bob", at=4), image=SOURCE)
    store.report(cancelled_running, progress=0.2, stage="denoising", preview=(8, 8, PREVIEW))
    store.cancel(cancelled_running.id)
    store.cancelled(cancelled_running)
    raced = running(store, new_task("bob", at=5, kind=TaskKind.BACKGROUND_REMOVAL), image=SOURCE)
    store.cancel(raced.id)
    store.succeed(raced, INFO, PNG)

    persistent, expiring = [], []
    for key in keys_of(client, prefix):
        (expiring if client.ttl(key) > 0 else persistent).append(key.decode())

    # Not even the queues' ticket counters: an emptied queue drops its counter.
    assert persistent == []
    assert all(client.ttl(key) <= TTL for key in expiring)
    # The owner index expires with the tasks it lists.
    assert store.owner_key("alice") in expiring
    assert store.owner_key("bob") in expiring


def test_owner_index_does_not_expire_while_the_owner_has_a_live_task(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    # Contract: a QUEUED or RUNNING task never expires, and `tasks` lists the caller's own.
    short = TaskStore(client, prefix=prefix, ttl=1)
    waiting = created(short, new_task(at=0))
    finished = running(short, new_task(at=1))
    short.succeed(finished, INFO, PNG)

    deadline = time.monotonic() + 5
    while client.exists(short.key(finished.id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.exists(short.key(finished.id)), "the finished task did not expire"

    assert short.get(waiting.id) is not None
    assert [task.id for task in short.list_for_owner("alice")] == [waiting.id]


# -- records -------------------------------------------------------------------------


def full_record() -> TaskRecord:
    started = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    return TaskRecord(
        id="c0ffee00-0000-4000-8000-000000000001",
        kind=TaskKind.FACE_SWAP,
        owner="alice",
        queue="face_swap",
        status=TaskStatus.SUCCEEDED,
        seq=17,
        progress=1.0,
        stage="done",
        step=2,
        total_steps=2,
        preview_width=64,
        preview_height=32,
        error_code=None,
        error_message=None,
        result=INFO,
        created_at=started - timedelta(seconds=3),
        started_at=started,
        finished_at=started + timedelta(seconds=5),
        expires_at=started + timedelta(seconds=5 + TTL),
        params={"sourceFaceIndex": 0, "targetFaceIndex": None, "_inputs": ["source", "target"]},
        cancel_requested=True,
        attempts=1,
        idempotency_ref="atelier:idem:alice:abc",
    )


def test_record_round_trips_through_a_hash() -> None:
    record = full_record()

    raw = to_hash(record)
    back = from_hash(raw)

    assert all(isinstance(value, str) for value in raw.values())
    assert back == record
    for moment in (back.created_at, back.started_at, back.finished_at, back.expires_at):
        assert moment is not None and moment.tzinfo is not None
    assert isinstance(back.result, ResultInfo)
    assert back.params["targetFaceIndex"] is None


def test_failed_record_round_trips_through_a_hash() -> None:
    record = full_record().evolve(
        status=TaskStatus.FAILED,
        result=None,
        error_code="NO_FACE_FOUND",
        error_message="no face",
        cancel_requested=False,
    )

    assert from_hash(to_hash(record)) == record


def test_new_record_round_trips_through_a_hash() -> None:
    record = new_task()

    assert from_hash(to_hash(record)) == record


def test_record_without_a_stage_round_trips_through_a_hash() -> None:
    record = new_task().evolve(stage=None)

    assert from_hash(to_hash(record)) == record


def test_record_round_trips_through_an_event_without_its_params() -> None:
    record = full_record()

    event = TaskChanged(record).encode()

    assert event["type"] == "task.event"
    assert "params" not in event["task"]
    assert TaskChanged.decode(event).record == record.evolve(params={})


def test_from_hash_ignores_fields_written_by_newer_code() -> None:
    record = full_record()

    assert from_hash({**to_hash(record), "shard": "eu-west"}) == record


def test_from_hash_ignores_result_fields_written_by_newer_code() -> None:
    record = full_record()
    stored = to_hash(record)
    result = json.loads(stored["result"])

    newer = {**stored, "result": json.dumps({**result, "thumbnails": ["small"]})}

    assert from_hash(newer) == record
