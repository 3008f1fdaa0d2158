"""Turns pipeline progress into record updates and events, and carries cancellation back."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from actors.kinds import spec_for
from actors.metrics import StepClock, redis_error
from actors.records import TaskKind, TaskRecord
from actors.store.outage import OUTAGES
from actors.store.tasks import Step, TaskStore
from actors.worker.cancellation import Superseded, keep_going
from pipelines.errors import Cancelled
from pipelines.images import encode_png
from pipelines.progress import Progress

logger = logging.getLogger(__name__)

Publish = Callable[[TaskRecord], None]


def fraction(kind: TaskKind, event: Progress) -> float:
    """How far into a run of `kind` the task is at `event`: each stage starts and ends
    at a share given by the kind's spec, and step-wise stages move through their span.
    (The store never lets progress go down.)"""
    start, end = spec_for(kind).span(event.stage)
    if event.step is not None and event.total_steps:
        return start + (end - start) * min(event.step, event.total_steps) / event.total_steps
    return start


class TaskReporter:
    """The progress callback a pipeline gets for one task.

    Raises `Cancelled` when a cancel was requested or the task is no longer
    this run's (see `Superseded`), and whatever `stop_reason` returns (the run lost
    its lease, the worker is shutting down), so the pipeline stops at its next
    step. While Redis is unreachable progress goes unrecorded and the run goes on.
    """

    def __init__(
        self,
        store: TaskStore,
        publish: Publish,
        record: TaskRecord,
        stop_reason: Callable[[], Cancelled | None] = keep_going,
    ) -> None:
        self._store = store
        self._publish = publish
        self._stop_reason = stop_reason
        self._steps = StepClock(record.kind)
        self.record = record

    def __call__(self, event: Progress) -> None:
        self._steps.arrived(event.stage, event.step)
        try:
            step = self.step_of(event)
            try:
                record = self._store.report_step(self.record, step)
            except OUTAGES as error:
                self.unrecorded(error)
                return
            self.recorded(record, event)
        finally:
            self._steps.returned()

    def step_of(self, event: Progress) -> Step:
        """What `event` writes; raises why the run must stop instead, if it must."""
        reason = self._stop_reason()
        if reason is not None:
            raise reason
        preview = None
        if event.preview is not None:
            preview = (event.preview.width, event.preview.height, encode_png(event.preview))
        return Step(
            fraction(self.record.kind, event),
            event.stage,
            event.step,
            event.total_steps,
            preview,
        )

    def recorded(self, record: TaskRecord | None, event: Progress) -> None:
        """The store's answer to the report of `event`: publish it, or raise why the run
        must stop."""
        if record is None:
            raise Superseded
        self.record = record
        try:
            self._publish(record)
        except Exception as error:  # subscribers resynchronise from the record
            logger.warning("progress event of task %s not published: %s", record.id, error)
        if record.cancel_requested:
            raise Cancelled

    def unrecorded(self, error: Exception) -> None:
        """Redis did not take a report: the run goes on, unrecorded."""
        redis_error(error)
        logger.warning("progress of task %s not recorded: %s", self.record.id, error)

    @property
    def steps(self) -> StepClock:
        return self._steps


class BatchReporter:
    """The progress of a batch's members at one step, reported in one round trip
    (`TaskStore.report_many`) where each member's own `TaskReporter` would take one
    each: a pipeline's `BatchProgress`. Each member is written, published, cancelled
    and stopped as by its own reporter."""

    def __init__(self, store: TaskStore, reporters: Sequence[TaskReporter]) -> None:
        self._store = store
        self._reporters = reporters

    def __call__(self, events: Sequence[tuple[int, Progress]]) -> list[BaseException | None]:
        for index, event in events:
            self._reporters[index].steps.arrived(event.stage, event.step)
        try:
            return self._report(events)
        finally:
            for index, _ in events:
                self._reporters[index].steps.returned()

    def _report(self, events: Sequence[tuple[int, Progress]]) -> list[BaseException | None]:
        ended: list[BaseException | None] = [None] * len(events)
        steps: list[tuple[int, Step]] = []
        for position, (index, event) in enumerate(events):
            try:
                steps.append((position, self._reporters[index].step_of(event)))
            except Exception as stop:
                ended[position] = stop
        try:
            records = self._store.report_many(
                [(self._reporters[events[p][0]].record, step) for p, step in steps]
            )
        except OUTAGES as error:
            for position, _ in steps:
                self._reporters[events[position][0]].unrecorded(error)
            return ended
        for (position, _), record in zip(steps, records, strict=True):
            index, event = events[position]
            try:
                self._reporters[index].recorded(record, event)
            except Exception as stop:
                ended[position] = stop
        return ended
