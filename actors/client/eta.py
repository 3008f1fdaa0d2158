"""When a task should start and finish, from measured run times and the workers there are.

A task's duration is fitted from its kind and model's run times (actors.store.runtimes):
a base plus its steps times the time per step; null until one such task has run warm.
A RUNNING task finishes its remaining steps at that rate, times the tasks of its
pipeline call when it runs in a batch (run times are measured per task, a call's time
shared among its tasks). A QUEUED task at position p
starts when the workers serving its queue have run what is ahead of it: each busy
worker is free once its task's remainder has passed, and the p - 1 tasks ahead (each
taken to last what recent tasks of its kind and model did, on average: the queue is
read as a count, not task by task) go to whichever worker is free first. No worker
serving the queue: no estimate.

Workers, their tasks and the run times are read at most once a second per web node
(`refresh`), so an estimate costs the task's rank and nothing else.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from actors.config import JobSettings
from actors.kinds import spec_for
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.reads import TaskReader
from actors.store.registry import WorkerRegistry
from actors.store.runtimes import RunTime, RunTimes
from pipelines.diffusion_params import denoising_steps

# Tasks ahead placed one by one on the first free worker; past this many, the rest are
# shared out evenly (the same answer for long queues, at a bounded cost).
SIMULATED_AHEAD = 200


@dataclass(frozen=True, slots=True)
class Estimate:
    start_at: datetime | None
    finish_at: datetime | None


@dataclass(slots=True)
class _Snapshot:
    read_at: float
    now: datetime
    times: dict[tuple[TaskKind, str], RunTime] = field(default_factory=dict)
    # Per queue: for each live worker serving it, seconds until it is free.
    free_in: dict[str, list[float]] = field(default_factory=dict)
    # Per running task: the tasks of the pipeline call it is in (1 unless batched).
    call_sizes: dict[str, int] = field(default_factory=dict)


class Estimator:
    def __init__(
        self,
        store: TaskReader,
        registry: WorkerRegistry,
        runtimes: RunTimes,
        settings: JobSettings,
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._registry = registry
        self._runtimes = runtimes
        self._settings = settings
        self._max_age = max_age
        self._clock = clock
        self._snapshot: _Snapshot | None = None

    def estimate(self, record: TaskRecord) -> Estimate:
        """Blocking (Redis reads): call it off the event loop."""
        if record.status.terminal:
            return Estimate(None, None)
        snapshot = self._current()
        measured = self._measured(snapshot, record)
        if measured is None:
            return Estimate(None, None)
        duration = measured.seconds(_steps(record))
        if record.status is TaskStatus.RUNNING:
            left = self._remaining(snapshot, record, duration)
            return Estimate(None, snapshot.now + timedelta(seconds=left))
        # Read after the record: a task that left the queue in between is starting.
        position = self._store.queue_position(record) or 1
        workers = snapshot.free_in.get(record.queue, [])
        if not workers:
            return Estimate(None, None)
        # What is ahead is read as many tasks of the recent mix, not task by task.
        wait = _wait(workers, position - 1, measured.mean)
        start = snapshot.now + timedelta(seconds=wait)
        return Estimate(start, start + timedelta(seconds=duration))

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None or self._clock() - snapshot.read_at > self._max_age:
            snapshot = self._snapshot = self._read()
        return snapshot

    def _read(self) -> _Snapshot:
        snapshot = _Snapshot(read_at=self._clock(), now=datetime.now(UTC))
        snapshot.times = self._runtimes.read()
        workers = [worker for worker in self._registry.live() if not worker.stopping]
        tasks = self._store.get_many(task.id for worker in workers for task in worker.tasks)
        running = {task.id: task for task in tasks if task.status is TaskStatus.RUNNING}
        for worker in workers:
            busy = 0.0
            for current in worker.tasks:
                snapshot.call_sizes[current.id] = current.call_size
                if (task := running.get(current.id)) is not None:
                    duration = self._duration(snapshot, task)
                    busy = max(busy, self._remaining(snapshot, task, duration or 0.0))
            for queue in worker.queues:
                snapshot.free_in.setdefault(queue, []).append(busy)
        return snapshot

    def _measured(self, snapshot: _Snapshot, record: TaskRecord) -> RunTime | None:
        # The model as the worker recorded the run under it (TaskRunner._measured).
        _, model = spec_for(record.kind).weights_for(self._settings, record.params.get("model"))
        return snapshot.times.get((record.kind, model))

    def _duration(self, snapshot: _Snapshot, record: TaskRecord) -> float | None:
        measured = self._measured(snapshot, record)
        return None if measured is None else measured.seconds(_steps(record))

    def _remaining(self, snapshot: _Snapshot, record: TaskRecord, duration: float) -> float:
        # A run time is measured per task, a batch's call divided among its tasks: the
        # call a running task is in lasts that many tasks' time.
        duration *= snapshot.call_sizes.get(record.id, 1)
        if record.step and record.total_steps:
            return duration * (record.total_steps - record.step) / record.total_steps
        if record.started_at is None:
            return duration
        elapsed = (snapshot.now - record.started_at).total_seconds()
        return max(0.0, duration - elapsed)


def _steps(record: TaskRecord) -> int | None:
    """The denoising steps the task will run (None: a kind without steps)."""
    if record.total_steps:
        return record.total_steps
    steps = record.params.get("steps")
    if not isinstance(steps, int):
        return None
    strength = record.params.get("strength")
    return denoising_steps(steps, strength if isinstance(strength, float | int) else None)


def _wait(free_in: list[float], ahead: int, duration: float) -> float:
    """Seconds until a worker takes the task with `ahead` tasks before it, each of
    `duration`, given when each worker is free."""
    heap = list(free_in)
    heapq.heapify(heap)
    simulated = min(ahead, SIMULATED_AHEAD)
    for _ in range(simulated):
        heapq.heappush(heap, heapq.heappop(heap) + duration)
    return heap[0] + (ahead - simulated) * duration / len(heap)
