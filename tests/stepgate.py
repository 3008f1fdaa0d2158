"""A test's hold on a running task: how long a task runs is up to the test, not the machine.

Tests that act on a task while it runs (kill or stop its worker, cancel it, restart
Redis, queue others behind it) used to make it long with many steps, and failed where a
fast machine finished it first. A text-to-image task whose prompt contains `HOLD` now
stops after reporting denoising step `HOLD_AT` and waits there until the test releases
it (`Stack.release(task_id)`). While it waits it still stops as a step would: when it
is cancelled, when its worker's shutdown grace ends (handed back to the queue) or when
its run lost its lease, and Dramatiq's time limit still interrupts it.

Every test stack's worker loads this module (`dramatiq project.worker tests.stepgate`,
see `tests.stack`) with `ATELIER_TEST_STEP_GATE` naming a folder: a task is released once
a file named after its id exists there. Without that variable the module does nothing,
and tasks without `HOLD` in their prompt are never held.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from actors.records import TaskRecord
from actors.store.tasks import TaskStore
from actors.worker import runner
from actors.worker.cancellation import keep_going
from actors.worker.reporter import Publish, TaskReporter
from pipelines.errors import Cancelled
from pipelines.progress import Progress

ENV = "ATELIER_TEST_STEP_GATE"
HOLD = "[hold]"
HOLD_AT = 3
POLL = 0.05

logger = logging.getLogger(__name__)


def held(prompt: str) -> str:
    """`prompt`, marked so that its task is held at step `HOLD_AT`."""
    return f"{prompt} {HOLD}"


class HeldReporter(TaskReporter):
    """The progress callback of a worker under test: holds marked tasks at `HOLD_AT`."""

    folder: Path

    def __init__(
        self,
        store: TaskStore,
        publish: Publish,
        record: TaskRecord,
        stop_reason: Callable[[], Cancelled | None] = keep_going,
    ) -> None:
        super().__init__(store, publish, record, stop_reason)
        self._gate_store = store
        self._gate_stop_reason = stop_reason

    def recorded(self, record: TaskRecord | None, event: Progress) -> None:
        # Once the step is written and published, alone or with a batch's others.
        super().recorded(record, event)
        if event.stage == "denoising" and event.step == HOLD_AT and self._marked():
            self._hold()

    def _marked(self) -> bool:
        return HOLD in str(self.record.params.get("prompt", ""))

    def _hold(self) -> None:
        released = self.folder / self.record.id
        logger.info("task %s held at step %d until %s exists", self.record.id, HOLD_AT, released)
        while not released.exists():
            reason = self._gate_stop_reason()
            if reason is not None:
                raise reason
            if self._cancel_requested():
                raise Cancelled
            time.sleep(POLL)
        logger.info("task %s released", self.record.id)

    def _cancel_requested(self) -> bool:
        try:
            current = self._gate_store.get(self.record.id)
        except Exception:  # Redis is out (a test restarts it): keep holding
            return False
        return current is None or current.cancel_requested


def install(folder: str) -> None:
    HeldReporter.folder = Path(folder)
    runner.TaskReporter = HeldReporter  # type: ignore[misc]


if os.environ.get(ENV):
    install(os.environ[ENV])
