"""Which task a free worker starts, and telling a waiting task its place moved.

A queue message does not pin which task runs: the worker that takes one starts the
best task of the queue at that moment (see `actors/store/lua/task_library.lua` for the
order: priority, fair share between owners, age). Each QUEUED task has sent one message,
so there are always at least as many messages as waiting tasks.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple, cast

from actors.records import TaskRecord, TaskStatus
from actors.store import scripts
from actors.store.outage import Script
from actors.store.reads import decode_record
from actors.store.tasks import TaskStore

# Picks one start may take: each further one follows a task another worker started
# first, or one past its deadline.
_PICK_TRIES = 32


class Claimed(NamedTuple):
    """What `Dispatcher.start_next` started (None: its queue had nothing to start), and
    the tasks it ended on the way (past their deadlines), to be published."""

    record: TaskRecord | None
    ended: list[TaskRecord]


class Dispatcher:
    """The queue side of a task store: starting the best waiting task, and noting
    position changes for subscribers."""

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self._pick = Script(store.client, scripts.PICK)
        self._touch = Script(store.client, scripts.TOUCH)

    def start_next(
        self, queue: str, *, max_attempts: int = 2, worker: str = "", run: str | None = None
    ) -> Claimed:
        """Start the best QUEUED task of `queue` for `worker`: the first by priority,
        fair share between owners and age (its rank, see task_library.lua), picked at
        the moment the worker is free; a queue message says only that some task of
        its queue waits, not which.

        Retried with the same `run` after a lost reply, it starts (or returns) the
        task it picked before. A task found past its deadline is ended instead and the
        next one tried. Returns what started (None: nothing waits) and what ended.
        """
        run = run or uuid.uuid4().hex
        ended: list[TaskRecord] = []
        fresh = False
        for _ in range(_PICK_TRIES):
            candidate = decode_record(
                self._pick(
                    keys=[self.store.queue_key(queue), self.store.claim_key(run)],
                    args=[self.store.key(""), self.store.lease_ms, "1" if fresh else "0"],
                )
            )
            if candidate is None:
                if fresh:
                    return Claimed(None, ended)
                fresh = True  # what it picked before is gone: pick anew
                continue
            record = self.store.start(
                candidate.id, max_attempts=max_attempts, worker=worker, run=run, known=candidate
            )
            if record is not None and record.status is TaskStatus.RUNNING:
                return Claimed(record, ended)
            if record is not None:
                ended.append(record)
            fresh = True  # started by another worker first, or ended: the next one
        return Claimed(None, ended)

    def waiting(self, queue: str, limit: int) -> list[TaskRecord]:
        """The first `limit` tasks waiting in `queue`, best first (the order `start_next`
        takes them in), as their records are now."""
        ids = cast(list[bytes], self.store.client.zrange(self.store.queue_key(queue), 0, limit - 1))
        records = self.store.get_many(task_id.decode() for task_id in ids)
        return [record for record in records if record.status is TaskStatus.QUEUED]

    def touch_position(self, record: TaskRecord, min_interval: float = 1.0) -> TaskRecord | None:
        """The QUEUED task's record with its sequence bumped when its queue position
        moved since this last returned it (at most once per `min_interval` seconds),
        for its subscribers to hear of it; else None."""
        raw = self._touch(
            keys=self.store.task_keys(record), args=[record.id, int(min_interval * 1000)]
        )
        return decode_record(raw)
