"""A finished run's PNG encoding, outcome write and publishing happen on the finisher's
thread, beside the next run: the worker's thread is free once the pipeline returns,
the task keeps its lease until its outcome is written, and the outcome is still
written once (a run whose task was reaped meanwhile writes nothing). The store is
real; the pipeline is the stand-in of test_runner, with an output whose encoding the
test holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from dramatiq.middleware import TimeLimitExceeded
from dramatiq.threading import raise_thread_exception
from PIL import Image

from actors.records import TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.finisher import Finisher
from pipelines.output import Output
from tests.actors.factories import lapse, zset_ids
from tests.actors.worker.test_runner import Runner, StandIn, queued


class HeldOutput(Output):
    """An output whose PNGs are encoded only once the test lets it."""

    def __init__(self) -> None:
        image = Image.new("RGB", (4, 3), "red")
        super().__init__(images=[image], width=4, height=3, metadata={"timings": {}})
        self.encoding = threading.Event()
        self.go_on = threading.Event()

    @property
    def pngs(self) -> tuple[bytes, ...]:
        self.encoding.set()
        assert self.go_on.wait(30), "the test never let the encoding go on"
        return super().pngs


def test_the_worker_is_free_before_the_outcome_is_written_and_the_lease_is_held_meanwhile(
    store: TaskStore, tmp_path: Path
) -> None:
    output = HeldOutput()
    runner = Runner(store, tmp_path, StandIn(output=output), lease_seconds=3)
    first, second = queued(store), queued(store)

    runner.runner.run(first.id)  # returns while the finisher waits to encode
    assert output.encoding.wait(30)
    expiry = store.client.zscore(store.leases_key, first.id)
    renewed = time.monotonic() + 30  # a hang guard: a renewal comes each second
    while store.client.zscore(store.leases_key, first.id) == expiry:
        assert time.monotonic() < renewed, "the lease was not renewed while finishing"
        time.sleep(0.05)
    waiting = store.get(first.id)
    assert waiting is not None and waiting.status is TaskStatus.RUNNING
    assert first.id in zset_ids(store, store.leases_key)
    assert store.reap(first.id) is None  # its lease is alive: not a dead worker's

    output.go_on.set()
    runner.runner.flush()
    done = store.get(first.id)
    assert done is not None and done.status is TaskStatus.SUCCEEDED
    assert done.result is not None and done.result.metadata["timings"]["encodeMs"] >= 0
    assert first.id not in zset_ids(store, store.leases_key)
    assert store.get(second.id).status is TaskStatus.QUEUED  # type: ignore[union-attr]


def test_a_run_reaped_before_its_outcome_is_written_writes_nothing(
    store: TaskStore, tmp_path: Path
) -> None:
    """A worker that dies between the pipeline call and the write (here: its lease
    lapses and the task is reaped) leaves one outcome: the next run's."""
    output = HeldOutput()
    runner = Runner(store, tmp_path, StandIn(output=output))
    record = queued(store)

    runner.runner.run(record.id)
    assert output.encoding.wait(30)
    lapse(store, record.id)
    requeued = store.reap(record.id)
    assert requeued is not None and requeued.status is TaskStatus.QUEUED

    output.go_on.set()
    runner.runner.flush()
    after = store.get(record.id)
    assert after is not None and after.status is TaskStatus.QUEUED and after.result is None
    assert not [r for r in runner.published if r.status is TaskStatus.SUCCEEDED]


def test_jobs_run_in_order_at_most_depth_wait_and_a_failing_job_stops_nothing() -> None:
    finisher = Finisher(depth=1)
    release, ran = threading.Event(), []
    finisher.hand_over(lambda: (release.wait(30), ran.append(1)))

    def fails() -> None:
        ran.append(2)
        raise RuntimeError("a write went wrong")

    finisher.hand_over(fails)  # waits in the queue: depth 1
    third_handed = threading.Event()

    def hand_third() -> None:
        finisher.hand_over(lambda: ran.append(3))
        third_handed.set()

    threading.Thread(target=hand_third, daemon=True).start()
    assert not third_handed.wait(0.2)  # no room: the caller waits
    release.set()
    assert third_handed.wait(30)
    finisher.flush()
    assert ran == [1, 2, 3]


class CrowdedFinisher(Finisher):
    """A finisher with one place, busy with a job until `free` is set and that place
    taken: the next run handed over waits for room (`waiting` says it has come)."""

    def __init__(self) -> None:
        super().__init__(depth=1)
        self.free = threading.Event()
        self.waiting = threading.Event()
        super().hand_over(lambda: self.free.wait(30))
        super().hand_over(lambda: None)

    def hand_over(self, job: Callable[[], None]) -> None:
        self.waiting.set()
        super().hand_over(job)


def test_a_time_limit_falling_while_a_run_waits_to_be_handed_over_loses_no_outcome(
    store: TaskStore, tmp_path: Path
) -> None:
    """Dramatiq's time limit raised into the worker's thread while it waits for room on
    the finisher: the run is still handed over, once, and its outcome written once."""
    runner = Runner(store, tmp_path, StandIn(steps=1))
    finisher = runner.runner.finisher = CrowdedFinisher()
    record = queued(store)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            runner.runner.run(record.id)
        except BaseException as error:  # only if it fell after the hand-over returned
            raised.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert finisher.waiting.wait(60)
    assert thread.ident is not None
    raise_thread_exception(thread.ident, TimeLimitExceeded)
    finisher.free.set()
    thread.join(60)
    assert not thread.is_alive()
    runner.runner.flush()
    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED, final
    assert (final.attempts, final.lost) == (1, 0)
    assert [r.status for r in runner.published].count(TaskStatus.SUCCEEDED) == 1
