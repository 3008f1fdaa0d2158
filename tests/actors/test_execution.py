"""Running a task in a worker: exactly one outcome, cancellation at the next step, no task
left RUNNING. The pipeline is a stand-in; the store is real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from actors.config import JobSettings
from actors.execution import TaskRunner
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store import TaskStore
from pipelines.background_removal import BackgroundRemovalParams
from pipelines.errors import NoFaceFound
from pipelines.output import Output
from pipelines.progress import Progress, ProgressCallback
from tests.actors.factories import new_task

PNG = b"\x89PNG\r\n\x1a\nresult"


class StandIn:
    """A background-removal pipeline that reports `steps` steps, calling `during` after each."""

    def __init__(self, steps: int = 3, during: Callable[[int], None] = lambda step: None) -> None:
        self.steps = steps
        self.during = during
        self.calls: list[BackgroundRemovalParams] = []
        self.reached = 0

    def run(self, params: BackgroundRemovalParams, progress: ProgressCallback) -> Output:
        self.calls.append(params)
        progress(Progress("decoding input"))
        for step in range(1, self.steps + 1):
            progress(Progress("removing background", step, self.steps))
            self.reached = step
            self.during(step)
        progress(Progress("encoding"))
        return Output(png=PNG, width=4, height=3, metadata={"model": "stand-in"})


class Runner:
    def __init__(self, store: TaskStore, tmp_path: Path, pipeline: StandIn) -> None:
        settings = JobSettings(model_dir=tmp_path, device="cpu")
        self.published: list[TaskRecord] = []
        self.sent: list[TaskRecord] = []
        self.runner = TaskRunner(settings, store, self.published.append, self.sent.append)
        # Already warm, as in a worker that ran this kind before: nothing is loaded.
        self.runner.cache.get((TaskKind.BACKGROUND_REMOVAL, "u2netp"), lambda: pipeline)

    def run(self, task_id: str) -> None:
        self.runner.run(task_id)


def queued(store: TaskStore) -> TaskRecord:
    record, _ = store.create(
        new_task(kind=TaskKind.BACKGROUND_REMOVAL, params={}), {"image": b"source"}
    )
    return record


def test_runner_succeeds_with_the_pipeline_output_and_publishes_every_change(
    store: TaskStore, tmp_path: Path
) -> None:
    pipeline = StandIn()
    runner = Runner(store, tmp_path, pipeline)
    record = queued(store)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED
    assert final.result is not None and (final.result.width, final.result.height) == (4, 3)
    assert store.result_png(record.id) == PNG
    assert pipeline.calls[0].image == b"source"
    assert runner.published[-1] == final
    assert [r.seq for r in runner.published] == list(range(1, final.seq + 1))
    assert runner.published[0].status is TaskStatus.RUNNING


def test_runner_skips_a_task_cancelled_while_queued(store: TaskStore, tmp_path: Path) -> None:
    pipeline = StandIn()
    runner = Runner(store, tmp_path, pipeline)
    record = queued(store)
    cancelled = store.cancel(record.id)

    runner.run(record.id)

    assert pipeline.calls == []
    assert runner.published == []
    assert store.get(record.id) == cancelled


def test_cancel_running_task_stops_it_at_the_next_step(store: TaskStore, tmp_path: Path) -> None:
    record = queued(store)
    pipeline = StandIn(steps=10, during=lambda step: step == 2 and store.cancel(record.id))
    runner = Runner(store, tmp_path, pipeline)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.CANCELLED
    assert final.error_code == "CANCELLED"
    assert pipeline.reached == 2
    assert store.result_png(record.id) is None
    assert runner.published[-1] == final


def test_pipeline_error_fails_the_task_with_its_code(store: TaskStore, tmp_path: Path) -> None:
    def no_face(step: int) -> None:
        raise NoFaceFound("no face in the target image")

    runner = Runner(store, tmp_path, StandIn(during=no_face))
    record = queued(store)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.FAILED
    assert (final.error_code, final.error_message) == (
        "NO_FACE_FOUND",
        "no face in the target image",
    )
    assert runner.published[-1] == final


def test_unexpected_error_fails_the_task_without_internals(
    store: TaskStore, tmp_path: Path
) -> None:
    def crash(step: int) -> None:
        raise KeyError("/secret/path/weights.bin")

    runner = Runner(store, tmp_path, StandIn(during=crash))
    record = queued(store)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.FAILED
    assert final.error_code == "PIPELINE_ERROR"
    assert final.error_message is not None and "secret" not in final.error_message


def test_missing_input_fails_the_task_before_the_pipeline_runs(
    store: TaskStore, tmp_path: Path
) -> None:
    pipeline = StandIn()
    runner = Runner(store, tmp_path, pipeline)
    record = queued(store)
    store.client.delete(store.key(record.id, "input:image"))

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.FAILED
    assert pipeline.calls == []


def test_task_redelivered_after_its_worker_died_does_not_stay_running(
    store: TaskStore, tmp_path: Path
) -> None:
    # The first worker took the task and died (its lease lapsed); Dramatiq redelivers
    # the message to another.
    record = queued(store)
    assert store.start(record.id) is not None
    store.client.zadd(store.leases_key, {record.id: 0})

    Runner(store, tmp_path, StandIn()).run(record.id)

    final = store.get(record.id)
    assert final is not None
    assert final.status is not TaskStatus.RUNNING, "a task whose worker died stays RUNNING"


def test_missing_model_fails_the_task_without_telling_the_client_server_paths(
    store: TaskStore, tmp_path: Path
) -> None:
    runner = Runner(store, tmp_path, StandIn())
    record, _ = store.create(
        new_task(kind=TaskKind.BACKGROUND_REMOVAL, params={"model": "u2net"}),
        {"image": b"source"},
    )

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.FAILED
    assert final.error_code == "MODEL_NOT_AVAILABLE"
    assert final.error_message == "model 'u2net' is not available on this server"
    assert str(tmp_path) not in (final.error_message or "")
