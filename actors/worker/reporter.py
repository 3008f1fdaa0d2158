"""Turns pipeline progress into record updates and events, and carries cancellation back."""

from __future__ import annotations

import logging
from collections.abc import Callable

from actors.kinds import spec_for
from actors.metrics import StepClock, redis_error
from actors.records import TaskKind, TaskRecord
from actors.store.outage import OUTAGES
from actors.store.tasks import TaskStore
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
            self._report(event)
        finally:
            self._steps.returned()

    def _report(self, event: Progress) -> None:
        reason = self._stop_reason()
        if reason is not None:
            raise reason
        preview = None
        if event.preview is not None:
            preview = (event.preview.width, event.preview.height, encode_png(event.preview))
        try:
            record = self._store.report(
                self.record,
                progress=fraction(self.record.kind, event),
                stage=event.stage,
                step=event.step,
                total_steps=event.total_steps,
                preview=preview,
            )
        except OUTAGES as error:
            redis_error(error)
            logger.warning("progress of task %s not recorded: %s", self.record.id, error)
            return
        if record is None:
            raise Superseded
        self.record = record
        try:
            self._publish(record)
        except Exception as error:  # subscribers resynchronise from the record
            logger.warning("progress event of task %s not published: %s", record.id, error)
        if record.cancel_requested:
            raise Cancelled
