"""Estimated start and finish times (actors.client.eta) over a real Redis: measured run
times, the workers serving a queue as the registry has them, and the queue's order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis

from actors.client.eta import Estimate, Estimator
from actors.config import JobSettings
from actors.records import TaskKind, TaskRecord
from actors.store.registry import CurrentTask, WorkerInfo, WorkerRegistry, from_hash, to_hash
from actors.store.runtimes import RunTimes
from actors.store.tasks import TaskStore
from tests.actors.factories import created, new_task, running

QUEUE = new_task().queue
MODEL = "tiny-random"


@pytest.fixture
def registry(client: redis.Redis, prefix: str) -> Iterator[WorkerRegistry]:
    yield WorkerRegistry(client, prefix=prefix, stale_after=30)


@pytest.fixture
def runtimes(client: redis.Redis, prefix: str) -> RunTimes:
    return RunTimes(client, prefix=prefix)


def estimator(store: TaskStore, registry: WorkerRegistry, runtimes: RunTimes) -> Estimator:
    return Estimator(store, registry, runtimes, JobSettings(), max_age=0)


def worker(name: str, *tasks: TaskRecord, queues: tuple[str, ...] = (QUEUE,)) -> WorkerInfo:
    current = tuple(CurrentTask(task.id, task.kind) for task in tasks)
    return WorkerInfo(id=name, host="gpu", pid=1, queues=queues, tasks=current)


def steps(count: int) -> TaskRecord:
    return new_task(params={"prompt": "x", "steps": count})


def seconds_after(start: datetime | None, end: datetime | None) -> float:
    assert start is not None and end is not None
    return (end - start).total_seconds()


def test_nothing_is_estimated_before_a_measurement_or_without_a_worker(
    store: TaskStore, registry: WorkerRegistry, runtimes: RunTimes
) -> None:
    task = created(store, steps(10))
    eta = estimator(store, registry, runtimes)
    registry.announce(worker("w1:1"))
    assert eta.estimate(task).start_at is None  # no run measured yet

    runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 10, 5.0)
    assert eta.estimate(task).start_at is not None
    registry.withdraw("w1:1")
    assert eta.estimate(task) == Estimate(None, None)


def test_queued_tasks_go_to_whichever_worker_is_free_first(
    store: TaskStore, registry: WorkerRegistry, runtimes: RunTimes
) -> None:
    runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 10, 10.0)  # one second a step
    busy = running(store, steps(10))
    store.report(busy, progress=0.4, stage="denoising", step=4, total_steps=10)
    busy = store.get(busy.id)  # type: ignore[assignment]
    waiting = [created(store, steps(10)) for _ in range(3)]
    registry.announce(worker("w1:1", busy))
    registry.announce(worker("w2:2"))
    eta = estimator(store, registry, runtimes)

    first, second, third = (eta.estimate(task) for task in waiting)
    now = datetime.now(first.start_at.tzinfo)  # type: ignore[union-attr]

    # The idle worker takes the first now; the busy one is free in 6 s (4 of 10 steps
    # done) and takes the second; the third waits for the idle one's 10 s task.
    assert seconds_after(now, first.start_at) == pytest.approx(0, abs=1)
    assert seconds_after(now, second.start_at) == pytest.approx(6, abs=1)
    assert seconds_after(now, third.start_at) == pytest.approx(10, abs=1)
    assert seconds_after(third.start_at, third.finish_at) == pytest.approx(10)
    running_eta = eta.estimate(busy)
    assert running_eta.start_at is None
    assert seconds_after(now, running_eta.finish_at) == pytest.approx(6, abs=1)


def test_a_batch_member_finishes_when_its_whole_call_does(
    store: TaskStore, registry: WorkerRegistry, runtimes: RunTimes
) -> None:
    """Run times are per task (a call of 3 taking 30 s counts 10 s each), so a running
    member's call lasts 3 tasks' time, and the worker is busy until it ends."""
    runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 10, 10.0)  # one second a step
    batch: list[TaskRecord] = []
    for _ in range(3):
        member = running(store, steps(10))
        reported = store.report(member, progress=0.4, stage="denoising", step=4, total_steps=10)
        assert reported is not None
        batch.append(reported)
    waiting = created(store, steps(10))
    calls = tuple(CurrentTask(task.id, task.kind, call_size=3) for task in batch)
    registry.announce(WorkerInfo(id="w1:1", host="gpu", pid=1, queues=(QUEUE,), tasks=calls))
    eta = estimator(store, registry, runtimes)

    member = eta.estimate(batch[0])
    now = datetime.now(member.finish_at.tzinfo)  # type: ignore[union-attr]
    # 6 of 10 steps left of a 30 s call.
    assert seconds_after(now, member.finish_at) == pytest.approx(18, abs=1)
    assert seconds_after(now, eta.estimate(waiting).start_at) == pytest.approx(18, abs=1)
    # As the registry keeps it; an older worker's entry, without call sizes, reads as 1.
    [announced] = registry.live()
    assert {task.call_size for task in announced.tasks} == {3}
    older = {
        **to_hash(announced),
        "tasks": json.dumps([{"id": batch[0].id, "kind": "IMAGE_GENERATION"}]),
    }
    older["started"] = "0"
    assert from_hash(older, 0).tasks[0].call_size == 1


def test_a_long_queue_is_shared_out_evenly_past_the_simulated_part(
    store: TaskStore, registry: WorkerRegistry, runtimes: RunTimes
) -> None:
    runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 2, 1.0)
    registry.announce(worker("w1:1"))
    registry.announce(worker("w2:2"))
    tasks = [created(store, steps(2)) for _ in range(401)]
    eta = estimator(store, registry, runtimes)

    last = eta.estimate(tasks[-1])
    now = datetime.now(last.start_at.tzinfo)  # type: ignore[union-attr]

    # 400 tasks of 1 s ahead on 2 workers: 200 s.
    assert seconds_after(now, last.start_at) == pytest.approx(200, abs=1)


def test_run_times_fit_a_base_and_a_time_per_step_per_kind_and_model(
    runtimes: RunTimes,
) -> None:
    for _ in range(20):  # seconds = 2 + steps
        runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 10, 12.0)
        runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 2, 4.0)
    runtimes.record(TaskKind.BACKGROUND_REMOVAL, "u2netp", 0, 0.5)
    runtimes.record(TaskKind.FACE_SWAP, "default", 0, 1.0)
    runtimes.record(TaskKind.FACE_SWAP, "default", 0, 2.0)

    times = runtimes.read()

    generation = times[TaskKind.IMAGE_GENERATION, MODEL]
    assert generation.base == pytest.approx(2.0, rel=1e-6)
    assert generation.per_step == pytest.approx(1.0, rel=1e-6)
    assert generation.seconds(30) == pytest.approx(32.0, rel=1e-6)
    assert generation.runs == 40
    assert times[TaskKind.BACKGROUND_REMOVAL, "u2netp"].seconds(None) == 0.5
    assert times[TaskKind.FACE_SWAP, "default"].seconds(None) == pytest.approx(1.2)  # 1 + 0.2


def test_one_step_count_alone_is_priced_per_step(runtimes: RunTimes) -> None:
    runtimes.record(TaskKind.IMAGE_GENERATION, MODEL, 10, 5.0)

    assert runtimes.read()[TaskKind.IMAGE_GENERATION, MODEL].seconds(20) == pytest.approx(10.0)
