"""A running task's lease, renewed from a background thread while its pipeline runs.

A thread rather than the progress callback: model loading or a long step can
run for minutes without calling back, and must not look like a dead worker.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from actors.logcontext import carried
from actors.records import TaskRecord
from actors.store.outage import OUTAGES
from actors.store.tasks import TaskStore

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the lease of one run every `every` seconds while entered.

    Sets `lost` once the store refuses a renewal: another run holds the task now, and
    this one must stop writing. A renewal Redis could not take is retried at the next
    beat; the lease outlasts a few missed ones.
    """

    def __init__(self, store: TaskStore, record: TaskRecord, *, every: float) -> None:
        self._store = store
        self._record = record
        self._every = every
        self._stop = threading.Event()
        # Set when another run owns the task now (the lease lapsed and was reaped).
        self.lost = threading.Event()
        # In the task's context, so that what it logs carries the task's id.
        self._thread = threading.Thread(
            target=carried(self._renew), name=f"lease-{record.id[:8]}", daemon=True
        )

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._stop.wait(self._every):
            try:
                held = self._store.renew(self._record)
            except OUTAGES as error:
                # The lease may lapse if this lasts; then the task is reaped and
                # this run learns it from the next renewal that gets through.
                logger.warning("could not renew the lease of task %s: %s", self._record.id, error)
                continue
            if not held:
                logger.warning("task %s: lease lost, another run owns it", self._record.id)
                self.lost.set()
                return
