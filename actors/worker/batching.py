"""Which waiting tasks join a task a worker has just started, to run as one call.

With `max_batch` above 1, a worker that starts a task of a kind with a `batch_key`
(text-to-image) also starts up to `max_batch - 1` tasks waiting in the same queue
that run on the same weights with an equal key, so the pipeline can run them all in
one call (`BatchPipeline.run_batch`). They are taken in queue order, priority and
fair share first, from the first `SCAN_PER_PLACE * max_batch` waiting tasks, so a task
whose turn has not come does not jump a long queue. With `batch_wait`, the worker
waits that long for more to arrive when the batch is not full; by default it takes
only what already waits.

Each member is started on its own (START: a new attempt and a lease of its own), so
it is exactly what a task running alone is to the rest of the system: cancelled,
reaped, timed out or written on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

from actors.config import JobSettings
from actors.kinds import spec_for
from actors.records import TaskRecord, TaskStatus
from actors.store.dispatch import Dispatcher
from actors.store.outage import OUTAGES

logger = logging.getLogger(__name__)

# How far down the queue a batch looks for companions, per place in the batch.
SCAN_PER_PLACE = 8
# How often a worker waiting for companions (`batch_wait`) looks at its queue again.
POLL_SECONDS = 0.005

Start = Callable[[TaskRecord], TaskRecord | None]


def batch_key(record: TaskRecord, settings: JobSettings) -> Hashable | None:
    """What tasks sharing a call with `record` must have equal (None: it runs alone)."""
    spec = spec_for(record.kind)
    if spec.batch_key is None:
        return None
    values = {k: v for k, v in record.params.items() if k not in ("model", "_inputs")}
    try:
        params = spec.make_params(values)
    except (TypeError, ValueError):  # a record written by another version: run it alone
        return None
    weights = spec.weights_for(settings, record.params.get("model"))
    return (record.kind, weights, spec.batch_key(params))


class Batcher:
    """Gathers the companions of a started task."""

    def __init__(
        self,
        settings: JobSettings,
        dispatcher: Dispatcher,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self._clock = clock
        self._sleep = sleep

    def companions(
        self, leader: TaskRecord, start: Start
    ) -> tuple[list[TaskRecord], list[TaskRecord]]:
        """Tasks started to run with `leader`, and those found past their deadlines on
        the way (ended, to be published). `start` starts one waiting task for this
        worker (retrying a lost reply under the same name)."""
        places = self.settings.max_batch - 1
        key = batch_key(leader, self.settings) if places > 0 else None
        if key is None:
            return [], []
        joined: list[TaskRecord] = []
        ended: list[TaskRecord] = []
        scan = SCAN_PER_PLACE * self.settings.max_batch
        until = self._clock() + self.settings.batch_wait
        while True:
            try:
                waiting = self.dispatcher.waiting(leader.queue, scan)
            except OUTAGES as error:  # a batch is an optimisation: run what it has
                logger.warning("no companions for task %s: %s", leader.id, error)
                break
            for candidate in waiting:
                if len(joined) == places:
                    break
                if batch_key(candidate, self.settings) != key:
                    continue
                record = start(candidate)
                if record is not None and record.status is TaskStatus.RUNNING:
                    joined.append(record)
                elif record is not None:
                    ended.append(record)
            left = until - self._clock()
            if len(joined) == places or left <= 0:
                break
            self._sleep(min(POLL_SECONDS, left))
        if joined:
            logger.info("task %s runs with %d more in one batch", leader.id, len(joined))
        return joined, ended
