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

import logging
import queue
import threading
from collections.abc import Callable

from actors.records import TaskRecord

logger = logging.getLogger(__name__)

# Changes waiting at most; past it the worker waits (Redis is slow or out).
DEPTH = 1024


class Announcer:
    """Calls `publish` for each change handed to it, in order, on a daemon thread."""

    def __init__(self, publish: Callable[[TaskRecord], None], depth: int = DEPTH) -> None:
        self._publish = publish
        self._changes: queue.Queue[TaskRecord] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def __call__(self, record: TaskRecord) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="announcer", daemon=True)
                self._thread.start()
        self._changes.put(record)

    def settle(self) -> None:
        """Wait until every change handed over so far is published."""
        self._changes.join()

    def _work(self) -> None:
        while True:
            record = self._changes.get()
            try:
                self._publish(record)
            except Exception as error:  # subscribers resynchronise from the record
                logger.warning("event of task %s not published: %s", record.id, error)
            finally:
                self._changes.task_done()
