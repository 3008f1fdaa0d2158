"""Recovering what a dead process left behind: tasks whose lease lapsed (their worker
died), messages a dead worker had fetched but not started, and tasks whose queue
message may never have been sent (their sender died); and ending the tasks whose
deadline passed while they waited (a running one stops at its next step anyway).

Every worker process sweeps on boot and then every few seconds; any number may
sweep at once, because each recovery is one atomic step in Redis and a duplicate
message is dropped when it starts (see actors.store.tasks: leases and dispatch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from actors.records import TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.periodic import Periodic

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    requeued: int = 0
    ended: int = 0
    sent: int = 0


class Maintenance:
    def __init__(
        self,
        store: TaskStore,
        send: Callable[[TaskRecord], None],
        publish: Callable[[TaskRecord], None],
        *,
        max_attempts: int,
        recover_messages: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._send = send
        self._publish = publish
        self._max_attempts = max_attempts
        self._recover_messages = recover_messages

    def sweep(self) -> Swept:
        # Messages a dead worker had fetched but not started (its leases cover what
        # it had started): back to their queues (see DoorbellRedisBroker).
        self._recover_messages()
        requeued = ended = sent = 0
        for task_id in self._store.lapsed_leases():
            record = self._store.reap(task_id, max_attempts=self._max_attempts)
            if record is None:  # renewed meanwhile, or no longer running
                continue
            logger.warning(
                "task %s lost its worker (run %d of %d lost): %s",
                task_id,
                record.lost,
                self._max_attempts,
                record.status.value if record.status.terminal else "requeued",
            )
            self._publish_quietly(record)
            if record.status is TaskStatus.QUEUED:
                requeued += 1
                self._dispatch(record)
                sent += 1
            else:
                ended += 1
        for task_id in self._store.due_dispatches():
            record = self._store.get(task_id)
            if record is None or record.status is not TaskStatus.QUEUED:
                self._store.dispatched(task_id)
                continue
            logger.warning("task %s was queued but its message never sent; sending it", task_id)
            self._dispatch(record)
            sent += 1
        for task_id in self._store.past_deadlines():
            record = self._store.enforce_deadline(task_id)
            if record is None:
                continue
            logger.info("task %s passed its deadline (%s)", task_id, record.status.value)
            self._publish_quietly(record)
            if record.status.terminal:
                ended += 1
        return Swept(requeued, ended, sent)

    def _dispatch(self, record: TaskRecord) -> None:
        self._send(record)
        self._store.dispatched(record.id)

    def _publish_quietly(self, record: TaskRecord) -> None:
        try:
            self._publish(record)
        except Exception as error:  # subscribers resynchronise from the record
            logger.warning("event of task %s not published: %s", record.id, error)


class Sweeper(Periodic):
    """Runs `Maintenance.sweep` at once and then every `every` seconds, in a thread."""

    def __init__(self, maintenance: Maintenance, every: float) -> None:
        super().__init__("sweep", maintenance.sweep, every)
