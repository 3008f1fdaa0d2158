"""Running a task in a worker: exactly one outcome, cancellation at the next step, no task
left RUNNING, a lease held while it runs, a clean hand-back on shutdown, Redis outages
ridden out. The pipeline is a stand-in; the store is real, and faults are injected only
at the Redis client (`FlakyRedis`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from actors.config import JobSettings
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.tasks import TaskStore, scripts
from actors.worker.runner import TaskRunner
from actors.worker.sweeper import Maintenance
from pipelines.background_removal import BackgroundRemovalParams
from pipelines.errors import NoFaceFound
from pipelines.output import Output
from pipelines.progress import Progress, ProgressCallback
from tests.actors.conftest import TTL
from tests.actors.factories import lapse, new_task, zset_ids

PNG = b"\x89PNG\r\n\x1a\nresult"


class StandIn:
    """A background-removal pipeline that reports `steps` steps, calling `during` after each."""

    def __init__(
        self,
        steps: int = 3,
        during: Callable[[int], None] = lambda step: None,
        output: Output | None = None,
    ) -> None:
        self.steps = steps
        self.during = during
        self.output = output or Output(png=PNG, width=4, height=3, metadata={"model": "stand-in"})
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
        return self.output


class Runner:
    def __init__(
        self, store: TaskStore, tmp_path: Path, pipeline: StandIn, **overrides: Any
    ) -> None:
        settings = JobSettings(model_dir=tmp_path, device="cpu", **overrides)
        self.published: list[TaskRecord] = []
        self.sent: list[TaskRecord] = []
        self.runner = TaskRunner(settings, store, self.published.append, self.sent.append)
        # Already warm, as in a worker that ran this kind before: nothing is loaded.
        self.runner.cache.get((TaskKind.BACKGROUND_REMOVAL, "u2netp"), lambda: pipeline)

    def run(self, task_id: str) -> None:
        """Run the task as the actor does, and wait for its outcome to be written."""
        self.runner.run(task_id)
        self.runner.flush()


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


def test_runner_stores_every_image_of_an_output_and_one_seed_each(
    store: TaskStore, tmp_path: Path
) -> None:
    pngs = (PNG, PNG + b"-2", PNG + b"-3")
    output = Output(
        png=pngs[0], width=4, height=3, seed=11, extra_pngs=pngs[1:], seeds=(11, 12, 13)
    )
    runner = Runner(store, tmp_path, StandIn(output=output))
    record = queued(store)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED
    assert final.result is not None and runner.published[-1] == final
    assert (final.result.image_count, final.result.seeds) == (3, [11, 12, 13])
    assert [store.result_png(record.id, index) for index in range(4)] == [*pngs, None]


@pytest.mark.parametrize(
    ("seed", "seeds", "expected"), [(None, (), None), (5, (), [5]), (5, (5,), [5])]
)
def test_a_one_image_output_has_its_seed_as_its_seeds(
    store: TaskStore, tmp_path: Path, seed: int | None, seeds: tuple[int, ...], expected: Any
) -> None:
    output = Output(png=PNG, width=4, height=3, seed=seed, seeds=seeds)
    runner = Runner(store, tmp_path, StandIn(output=output))
    record = queued(store)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.result is not None
    assert (final.result.image_count, final.result.seeds) == (1, expected)
    assert store.result_png(record.id, 1) is None


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


def test_task_whose_worker_died_is_requeued_first_and_run_by_the_next_message(
    store: TaskStore, tmp_path: Path
) -> None:
    # The first worker took the task and died (its lease lapsed); Dramatiq redelivers
    # its message to another, which starts what waits: a task queued meanwhile.
    record = queued(store)
    assert store.start(record.id) is not None
    store.client.zadd(store.leases_key, {record.id: 0})
    meanwhile = queued(store)
    runner = Runner(store, tmp_path, StandIn())

    runner.run(record.id)

    assert {task.id for task in runner.published} == {meanwhile.id}
    ran = store.get(meanwhile.id)
    assert ran is not None and ran.status is TaskStatus.SUCCEEDED
    # The sweep requeues the lost task ahead of anything waiting; its new message runs it.
    later = queued(store)
    reaped = store.reap(record.id)
    assert reaped is not None and reaped.status is TaskStatus.QUEUED
    assert store.queue_position(reaped) == 1

    runner.run(reaped.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED
    assert (final.attempts, final.lost) == (2, 1)
    assert store.queue_position(later) == 1


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


def succeeded_once(store: TaskStore, runner: Runner, task_id: str) -> TaskRecord:
    final = store.get(task_id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED, final
    assert store.result_png(task_id) == PNG
    assert [r.status.terminal for r in runner.published].count(True) == 1
    assert runner.published[-1] == final
    return final


# -- leases ------------------------------------------------------------------------------


class SweepingThread:
    """Another worker's sweeper, sweeping the same Redis over and over."""

    def __init__(self, store: TaskStore) -> None:
        self.sent: list[TaskRecord] = []
        self.published: list[TaskRecord] = []
        self.maintenance = Maintenance(
            store, self.sent.append, self.published.append, max_attempts=2
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.maintenance.sweep()

    def __enter__(self) -> SweepingThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_the_lease_is_renewed_while_a_slow_pipeline_runs(
    client: redis.Redis, prefix: str, store: TaskStore, tmp_path: Path
) -> None:
    lease = 0.5  # renewed every third of it: a renewal may come 0.3 s late
    leased = TaskStore(client, prefix=prefix, ttl=TTL, lease_seconds=lease)
    record = queued(leased)
    # Each step takes longer than the whole lease, and no progress call comes meanwhile.
    pipeline = StandIn(steps=3, during=lambda step: time.sleep(lease * 1.2))
    runner = Runner(leased, tmp_path, pipeline, lease_seconds=lease)

    with SweepingThread(leased) as sweeper:
        runner.run(record.id)

    final = succeeded_once(leased, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)
    assert final.result is not None and final.result.metadata["attempts"] == 1
    assert sweeper.sent == [] and sweeper.published == []
    assert zset_ids(leased, leased.leases_key) == set()


def test_a_run_whose_task_was_reaped_stops_at_its_next_step_and_writes_nothing(
    store: TaskStore, tmp_path: Path
) -> None:
    record = queued(store)
    reaped: list[TaskRecord] = []

    def worker_presumed_dead(step: int) -> None:
        if step == 2:  # the lease lapsed (a long stall) and a sweeper requeued the task
            lapse(store, record.id)
            requeued = store.reap(record.id)
            assert requeued is not None
            reaped.append(requeued)

    pipeline = StandIn(steps=10, during=worker_presumed_dead)
    runner = Runner(store, tmp_path, pipeline)

    runner.run(record.id)

    assert pipeline.reached == 2
    final = store.get(record.id)
    assert final == reaped[0]
    assert final.status is TaskStatus.QUEUED
    assert (final.attempts, final.lost) == (1, 1)
    assert store.result_png(record.id) is None
    assert all(event.seq < final.seq for event in runner.published)
    assert runner.sent == []  # the sweeper that requeued it sends its message

    # Its next run starts afresh, inputs intact.
    again = Runner(store, tmp_path, StandIn())
    again.run(record.id)
    done = succeeded_once(store, again, record.id)
    assert (done.attempts, done.lost) == (2, 1)
    assert done.result is not None and done.result.metadata["attempts"] == 2


def test_a_run_whose_task_was_taken_over_cannot_touch_the_new_run(
    store: TaskStore, tmp_path: Path
) -> None:
    record = queued(store)
    taken: list[TaskRecord] = []

    def redelivered_elsewhere(step: int) -> None:
        if step == 2:
            lapse(store, record.id)
            other = store.start(record.id, worker="other-worker")
            assert other is not None and other.status is TaskStatus.RUNNING
            taken.append(other)

    pipeline = StandIn(steps=10, during=redelivered_elsewhere)
    runner = Runner(store, tmp_path, pipeline)

    runner.run(record.id)

    assert pipeline.reached == 2
    assert store.get(record.id) == taken[0]
    assert runner.sent == []
    # The run that took over still holds its lease and writes the one outcome.
    assert store.renew(taken[0])
    assert store.fail(taken[0], "PIPELINE_ERROR", "the other run failed") is not None


# -- shutdown ----------------------------------------------------------------------------


def test_drain_hands_a_running_task_back_at_its_next_step(store: TaskStore, tmp_path: Path) -> None:
    record = queued(store)
    behind = queued(store)
    holder: list[Runner] = []
    pipeline = StandIn(steps=10, during=lambda step: step == 2 and holder[0].runner.drain(0))
    runner = Runner(store, tmp_path, pipeline)
    holder.append(runner)

    runner.run(record.id)

    assert pipeline.reached == 2
    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.QUEUED
    assert (final.attempts, final.lost) == (1, 0)
    assert final.stage == "requeued: its worker shut down"
    # Handed back ahead of the task queued behind it: it has waited longest.
    assert store.queue_position(final) == 1
    assert store.queue_position(behind) == 2
    assert runner.published[-1] == final
    assert runner.sent == [final]
    assert record.id not in zset_ids(store, store.undispatched_key)
    assert zset_ids(store, store.leases_key) == set()
    assert store.result_png(record.id) is None

    again = Runner(store, tmp_path, StandIn())
    again.run(record.id)
    done = succeeded_once(store, again, record.id)
    assert (done.attempts, done.lost) == (2, 0)


def test_drain_with_a_long_grace_lets_the_task_finish(store: TaskStore, tmp_path: Path) -> None:
    record = queued(store)
    holder: list[Runner] = []
    pipeline = StandIn(steps=5, during=lambda step: step == 1 and holder[0].runner.drain(60))
    runner = Runner(store, tmp_path, pipeline)
    holder.append(runner)

    runner.run(record.id)

    assert pipeline.reached == 5
    final = succeeded_once(store, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)
    assert runner.sent == []


def test_drain_of_a_task_with_a_cancel_request_ends_it_cancelled(
    store: TaskStore, tmp_path: Path
) -> None:
    record = queued(store)
    holder: list[Runner] = []

    def cancel_then_stop(step: int) -> None:
        if step == 2:
            store.cancel(record.id)
            holder[0].runner.drain(0)

    runner = Runner(store, tmp_path, StandIn(steps=10, during=cancel_then_stop))
    holder.append(runner)

    runner.run(record.id)

    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.CANCELLED
    assert runner.sent == []
    assert runner.published[-1] == final


# -- Redis outages -----------------------------------------------------------------------


class FlakyRedis(redis.Redis):
    """A Redis client that fails chosen calls of chosen scripts, as a network would.

    `fault(script, plan...)`: the script's next calls go by the plan, one entry each:
    "ok"; "down" (refused before reaching Redis); "reply lost" (Redis ran it, then the
    connection dropped before the answer came back).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans: dict[str, list[str]] = {}
        self.injected: list[str] = []

    def fault(self, script: str, *plan: str) -> None:
        self.plans[self.register_script(script).sha] = list(plan)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        plan = self.plans.get(sha)
        what = plan.pop(0) if plan else "ok"
        if what == "down":
            self.injected.append(what)
            raise redis.ConnectionError("injected: Redis unreachable")
        answer = super().evalsha(sha, numkeys, *keys_and_args)
        if what == "reply lost":
            self.injected.append(what)
            raise redis.ConnectionError("injected: connection lost before the reply")
        return answer


@pytest.fixture
def flaky(redis_url: str, prefix: str, store: TaskStore) -> Iterator[FlakyRedis]:
    """A client of the test's Redis, for a store under the test's prefix."""
    connection = FlakyRedis.from_url(redis_url)
    try:
        yield connection
    finally:
        connection.close()


def flaky_store(flaky: FlakyRedis, prefix: str) -> TaskStore:
    return TaskStore(flaky, prefix=prefix, ttl=TTL)


def test_progress_goes_unrecorded_while_redis_is_unreachable_and_the_run_goes_on(
    flaky: FlakyRedis, prefix: str, tmp_path: Path
) -> None:
    store = flaky_store(flaky, prefix)
    record = queued(store)
    flaky.fault(scripts.PROGRESS, "ok", "down", "down", "ok", "down")
    pipeline = StandIn(steps=5)
    runner = Runner(store, tmp_path, pipeline)

    runner.run(record.id)

    assert flaky.injected == ["down"] * 3
    assert pipeline.reached == 5
    final = succeeded_once(store, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)
    # Every change that was written was published, in order, none twice.
    assert [r.seq for r in runner.published] == list(range(1, final.seq + 1))


def test_a_start_refused_by_redis_is_retried(
    flaky: FlakyRedis, prefix: str, tmp_path: Path
) -> None:
    store = flaky_store(flaky, prefix)
    record = queued(store)
    flaky.fault(scripts.START, "down")
    runner = Runner(store, tmp_path, StandIn())

    runner.run(record.id)

    assert flaky.injected == ["down"]
    final = succeeded_once(store, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)


def test_the_outcome_write_is_retried_until_redis_answers(
    flaky: FlakyRedis, prefix: str, tmp_path: Path
) -> None:
    store = flaky_store(flaky, prefix)
    record = queued(store)
    flaky.fault(scripts.FINISH, "down", "down")
    runner = Runner(store, tmp_path, StandIn())

    runner.run(record.id)

    assert flaky.injected == ["down", "down"]
    final = succeeded_once(store, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)
    assert final.result is not None and final.result.metadata["attempts"] == 1


def test_a_start_whose_reply_was_lost_still_runs_the_task(
    flaky: FlakyRedis, prefix: str, tmp_path: Path
) -> None:
    # Redis ran START, the connection dropped before the answer: the retry must find
    # the task this run's own, not a run under someone else's live lease.
    store = flaky_store(flaky, prefix)
    record = queued(store)
    flaky.fault(scripts.START, "reply lost")
    pipeline = StandIn()
    runner = Runner(store, tmp_path, pipeline)

    runner.run(record.id)

    assert flaky.injected == ["reply lost"]
    assert pipeline.reached == pipeline.steps, "the task was started but never run"
    final = succeeded_once(store, runner, record.id)
    assert (final.attempts, final.lost) == (1, 0)


def test_an_outcome_whose_reply_was_lost_is_still_published(
    flaky: FlakyRedis, prefix: str, tmp_path: Path
) -> None:
    store = flaky_store(flaky, prefix)
    record = queued(store)
    flaky.fault(scripts.FINISH, "reply lost")
    runner = Runner(store, tmp_path, StandIn())

    runner.run(record.id)

    assert flaky.injected == ["reply lost"]
    succeeded_once(store, runner, record.id)
