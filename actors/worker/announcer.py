"""A worker's task changes published in order on a thread of their own.

Publishing a change (to its subscribers through the channel layer, and to its webhook
outbox) costs a few Redis round trips. Done in the pipeline's progress callback it
would hold up every step, and a batch's once per member; so the worker's thread hands
each change here and goes on. One thread, first in first out: a task's changes reach
its subscribers in the order they happened, its outcome after its last progress, as
before. The change is in the task's record before it is handed here, so a subscriber
that resynchronises from the record misses nothing either way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from actors.records import TaskRecord
from actors.worker.finisher import Finisher

logger = logging.getLogger(__name__)

# Changes waiting at most; past it the worker waits (Redis is slow or out).
DEPTH = 1024


class Announcer:
    """Calls `publish` for each change handed to it, in order, on a daemon thread."""

    def __init__(self, publish: Callable[[TaskRecord], None], depth: int = DEPTH) -> None:
        self._publish = publish
        self._thread = Finisher(depth, name="announcer")

    def __call__(self, record: TaskRecord) -> None:
        self._thread.hand_over(functools.partial(self._announce, record))

    def settle(self) -> None:
        """Wait until every change handed over so far is published."""
        self._thread.flush()

    def _announce(self, record: TaskRecord) -> None:
        try:
            self._publish(record)
        except Exception as error:  # subscribers resynchronise from the record
            logger.warning("event of task %s not published: %s", record.id, error)
