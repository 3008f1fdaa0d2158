"""A worker's writes to Redis, retried until Redis answers (see `when_redis_answers`):
a run's start and outcome are what it has left to do, so it waits rather than drops them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from dramatiq.middleware import TimeLimitExceeded

from actors.records import TaskRecord, TaskStatus
from actors.store.outage import when_redis_answers
from actors.store.tasks import TaskStore

logger = logging.getLogger("actors.worker.runner")
T = TypeVar("T")


def retried(call: Callable[[], T], what: str, patience: float) -> T:
    """`call`, retried while Redis is unreachable or full."""
    while True:
        try:
            return when_redis_answers(call, what=what, give_up_after=patience)
        except TimeLimitExceeded:
            # Dramatiq's time limit fell while this waited for Redis (a full one can
            # take longer than the limit). Raised out of the actor it would
            # dead-letter the message and leave the task to its lease: one run lost,
            # or a start never made. The write is what the run has left to do.
            logger.warning("the time limit passed while waiting to %s; still waiting", what)


def written(
    write: Callable[[], TaskRecord | None],
    what: str,
    patience: float,
    store: TaskStore,
    task_id: str | None = None,
) -> TaskRecord | None:
    """`write`, retried. For an outcome (`task_id` given): a retry finding its write
    already applied (the reply was lost) returns the record as it now stands, so the
    change is still published."""
    tries = 0

    def attempt() -> TaskRecord | None:
        nonlocal tries
        tries += 1
        return write()

    record = retried(attempt, what, patience)
    if record is None and tries > 1 and task_id is not None:
        record = store.get(task_id)
        if record is not None and record.status is TaskStatus.RUNNING:
            return None  # another run holds it: nothing of ours to publish
    return record
