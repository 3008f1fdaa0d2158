"""A worker running compatible text-to-image tasks as one pipeline call: who joins a
batch (queue order, same model and call), and each member's own progress, outcome,
lease, cancel and deadline. The store and the tiny diffusion model are real; the
Dramatiq message is left out (`TaskRunner.run` is what the actor calls)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from actors.config import JobSettings
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.dispatch import Dispatcher
from actors.store.tasks import TaskStore
from actors.worker import runner as runner_module
from actors.worker.batching import Batcher
from actors.worker.reporter import TaskReporter
from actors.worker.runner import TaskRunner
from pipelines.diffusion import StableDiffusion
from pipelines.models import ModelStore
from pipelines.progress import Progress
from pipelines.text_to_image import TextToImage, TextToImageParams
from tests.actors.factories import created, new_task, zset_ids

MODEL = "tiny-random"


@pytest.fixture(scope="module", name="weights")
def loaded_weights(model_store: ModelStore) -> StableDiffusion:
    return StableDiffusion.load(MODEL, model_store, device="cpu")


def params(seed: int, **overrides: Any) -> dict[str, Any]:
    values = {"prompt": f"a lighthouse, take {seed}", "seed": seed, "width": 64, "height": 64}
    return {**values, "steps": 3, "refine_prompt": False, **overrides}


def queued(store: TaskStore, seed: int, owner: str = "alice", **overrides: Any) -> TaskRecord:
    kind = TaskKind.IMAGE_GENERATION
    return created(store, new_task(owner, kind=kind, params=params(seed, **overrides)))


class Worker:
    """A task runner with the tiny model warm; `during(record)` sees each member's
    record as its progress callback reports it, on the pipeline's thread, while the
    batch runs."""

    def __init__(
        self,
        store: TaskStore,
        tmp_path: Path,
        weights: StableDiffusion,
        monkeypatch: pytest.MonkeyPatch,
        **settings: Any,
    ) -> None:
        self.published: list[TaskRecord] = []
        self.during: Callable[[TaskRecord], None] = lambda record: None
        worker = self

        class Hooked(TaskReporter):
            # Where each report's answer lands, alone or in a batch's one round trip.
            def recorded(self, record: TaskRecord | None, event: Progress) -> None:
                super().recorded(record, event)
                worker.during(self.record)

        monkeypatch.setattr(runner_module, "TaskReporter", Hooked)
        self.runner = TaskRunner(
            JobSettings(model_dir=tmp_path, device="cpu", **settings),
            store,
            self.published.append,
            lambda record: None,
        )
        self.runner.cache.get((TaskKind.IMAGE_GENERATION, MODEL), lambda: weights)
        self.store = store

    def run(self, hint: TaskRecord) -> None:
        self.runner.run(hint.id, hint.queue)
        self.runner.flush()  # outcomes are written, changes published, on threads of their own

    def final(self, record: TaskRecord) -> TaskRecord:
        now = self.store.get(record.id)
        assert now is not None
        return now


WorkerWith = Callable[..., Worker]


@pytest.fixture
def worker_with(
    store: TaskStore, tmp_path: Path, weights: StableDiffusion, monkeypatch: pytest.MonkeyPatch
) -> WorkerWith:
    """A `Worker` with the given settings (`max_batch=3`, ...)."""
    return lambda **settings: Worker(store, tmp_path, weights, monkeypatch, **settings)


def alone_png(weights: StableDiffusion, seed: int) -> bytes:
    return TextToImage(weights).run(TextToImageParams(**params(seed))).png


def test_a_worker_runs_the_first_compatible_waiting_tasks_as_one_batch(
    store: TaskStore, worker_with: WorkerWith, weights: StableDiffusion
) -> None:
    worker = worker_with(max_batch=3)
    first = queued(store, 1)
    other_steps = queued(store, 2, steps=4)
    other_size = queued(store, 3, width=128)
    second, third, fourth = queued(store, 4), queued(store, 5), queued(store, 6)

    worker.run(first)

    for member, seed in ((first, 1), (second, 4), (third, 5)):
        done = worker.final(member)
        assert done.status is TaskStatus.SUCCEEDED
        assert done.result is not None
        assert done.result.metadata["batch"] == {"tasks": 3, "images": 3, "exact": True}
        assert done.result.seed == seed
        assert store.result_png(member.id) == alone_png(weights, seed)
    for waiting in (other_steps, other_size, fourth):
        assert worker.final(waiting).status is TaskStatus.QUEUED
    ran = {record.id for record in worker.published if record.status is TaskStatus.RUNNING}
    assert ran == {first.id, second.id, third.id}


def test_each_member_reports_its_own_steps(store: TaskStore, worker_with: WorkerWith) -> None:
    worker = worker_with(max_batch=2)
    first, second = queued(store, 1), queued(store, 2)
    worker.run(first)
    for member in (first, second):
        steps = [r.step for r in worker.published if r.id == member.id and r.stage == "denoising"]
        assert steps == [0, 1, 2, 3]
        assert worker.final(member).attempts == 1


def test_priority_and_fair_share_decide_who_joins(
    store: TaskStore, worker_with: WorkerWith
) -> None:
    worker = worker_with(max_batch=2)
    alice = [queued(store, seed) for seed in (1, 2, 3)]
    bob = queued(store, 4, owner="bob")  # after alice's three, but first in the next round
    worker.run(alice[0])
    assert worker.final(bob).status is TaskStatus.SUCCEEDED
    assert [worker.final(task).status for task in alice[1:]] == [TaskStatus.QUEUED] * 2


def test_cancelling_one_member_ends_it_alone_and_the_batch_goes_on(
    store: TaskStore, worker_with: WorkerWith, weights: StableDiffusion
) -> None:
    worker = worker_with(max_batch=3)
    first, doomed, last = queued(store, 1), queued(store, 2), queued(store, 3)

    def cancel_at_step_one(record: TaskRecord) -> None:
        if record.id == first.id and record.step == 1:
            store.cancel(doomed.id)

    worker.during = cancel_at_step_one
    worker.run(first)

    assert worker.final(doomed).status is TaskStatus.CANCELLED
    assert store.result_png(doomed.id) is None
    # Cancelled during step 1 (the members' reports of a step are written together,
    # so its own report of step 1 comes first): nothing past step 1.
    doomed_steps = {r.step for r in worker.published if r.id == doomed.id and r.step is not None}
    assert doomed_steps <= {0, 1}
    assert worker.published[-1].status is TaskStatus.SUCCEEDED
    for member, seed in ((first, 1), (last, 3)):
        assert worker.final(member).status is TaskStatus.SUCCEEDED
        assert store.result_png(member.id) == alone_png(weights, seed)


def test_a_member_past_its_deadline_ends_alone(store: TaskStore, worker_with: WorkerWith) -> None:
    worker = worker_with(max_batch=2)
    first, late = queued(store, 1), queued(store, 2)

    def deadline_at_step_two(record: TaskRecord) -> None:
        if record.id == first.id and record.step == 2:  # its deadline comes now
            store.client.hset(store.key(late.id), "deadline_ms", 1)
            store.enforce_deadline(late.id)  # as the sweeper does

    worker.during = deadline_at_step_two
    worker.run(first)

    ended = worker.final(late)
    assert ended.status is TaskStatus.CANCELLED and ended.deadline_exceeded
    assert worker.final(first).status is TaskStatus.SUCCEEDED


def test_every_member_holds_its_own_lease_while_the_batch_runs(
    store: TaskStore, worker_with: WorkerWith
) -> None:
    """So a worker lost mid-batch leaves each member to the reaper, which requeues it."""
    worker = worker_with(max_batch=3)
    members = [queued(store, seed) for seed in (1, 2, 3)]
    leased: list[set[str]] = []

    def note_leases(record: TaskRecord) -> None:
        if record.id == members[0].id and record.step == 2:
            leased.append(zset_ids(store, store.leases_key))

    worker.during = note_leases
    worker.run(members[0])
    assert leased == [{member.id for member in members}]
    assert zset_ids(store, store.leases_key) == set()


def test_without_max_batch_each_task_runs_alone(store: TaskStore, worker_with: WorkerWith) -> None:
    worker = worker_with()
    first, second = queued(store, 1), queued(store, 2)
    worker.run(first)
    done = worker.final(first)
    assert done.status is TaskStatus.SUCCEEDED and done.result is not None
    assert "batch" not in done.result.metadata
    assert worker.final(second).status is TaskStatus.QUEUED


def test_whole_batch_kernels_are_said_in_the_metadata(
    store: TaskStore, worker_with: WorkerWith
) -> None:
    worker = worker_with(max_batch=2, batch_exact=False)
    first, second = queued(store, 1), queued(store, 2)
    worker.run(first)
    for member in (first, second):
        result = worker.final(member).result
        assert result is not None and result.metadata["batch"]["exact"] is False
        png = store.result_png(member.id)
        assert png is not None and Image.open(io.BytesIO(png)).size == (64, 64)


def test_a_batch_waits_for_companions_only_as_long_as_it_is_told(
    store: TaskStore, tmp_path: Path
) -> None:
    """The clock is the test's: each look at the queue costs one tick of POLL_SECONDS."""
    settings = JobSettings(model_dir=tmp_path, max_batch=3, batch_wait=0.012)
    now = [0.0]
    arrivals: list[TaskRecord] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if len(arrivals) < 5:
            arrivals.append(queued(store, 10 + len(arrivals)))  # one more while it waits

    dispatcher = Dispatcher(store)
    started: list[str] = []

    def start(waiting: TaskRecord) -> TaskRecord | None:
        started.append(waiting.id)
        return store.start(waiting.id, worker="w", known=waiting)

    batcher = Batcher(settings, dispatcher, clock=lambda: now[0], sleep=sleep)
    leader = store.start(queued(store, 1).id)
    assert leader is not None
    joined, ended = batcher.companions(leader, start)
    assert [record.id for record in joined] == [arrivals[0].id, arrivals[1].id]
    assert ended == []

    patient = Batcher(
        JobSettings(model_dir=tmp_path, max_batch=8, batch_wait=0.012),
        dispatcher,
        clock=lambda: now[0],
        sleep=sleep,
    )
    now[0] = 0.0
    leader = store.start(queued(store, 2).id)
    assert leader is not None
    joined, _ = patient.companions(leader, start)
    # 0.012 s of waiting is three looks after the first: the 3 tasks left of the
    # five that arrive, no more, though 7 places were open.
    assert len(joined) == 3 and now[0] == pytest.approx(0.012)
