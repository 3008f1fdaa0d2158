"""A worker's finished runs written on a thread of their own, beside the next run.

Once a pipeline call returns, what is left of a run is CPU and network work: encoding
its PNGs, writing each task's outcome, publishing it, letting go of the leases. Done
on the worker's thread, the accelerator would wait for it; here the worker's thread
hands it over and takes its next message, so the next pipeline call starts at once.

At most `depth` finished runs wait; handing over one more waits for room, so a worker
never holds more than a few runs' images. Each run's leases stay renewed until its
outcomes are written, so a run waiting here is not taken for a dead worker's, and an
outcome is still written exactly once: the write is refused if the run no longer
holds its task, and a worker that dies first leaves its tasks to lapse and be
requeued by the reaper (their messages are acknowledged already).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from actors.logcontext import carried

logger = logging.getLogger(__name__)

# Finished runs waiting at most: one being written while the next run's is made.
DEPTH = 2


class Finisher:
    """Runs handed-over jobs one at a time, in order, on a daemon thread `name` (also
    the announcer's thread: actors.worker.announcer)."""

    def __init__(self, depth: int = DEPTH, name: str = "finisher") -> None:
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=depth)
        self._name = name
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def hand_over(self, job: Callable[[], None]) -> None:
        """Queue `job` (in the caller's log context), waiting while `depth` wait."""
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
        self._jobs.put(carried(job))

    def flush(self) -> None:
        """Wait until every job handed over so far has run (a stopping worker's last
        outcomes are written before it exits)."""
        self._jobs.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a job writes its own outcome; this keeps the thread alive
                logger.exception("a job on the %s thread failed", self._name)
            finally:
                self._jobs.task_done()
