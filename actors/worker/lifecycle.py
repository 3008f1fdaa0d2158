"""Dramatiq middleware for a worker's life: sweep while it runs, drain when it stops."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dramatiq import Broker, Middleware, Worker

from actors.worker.sweeper import Sweeper

logger = logging.getLogger(__name__)


class WorkerLifecycle(Middleware):
    """After boot, start the sweeper. On shutdown (SIGTERM), Dramatiq stops taking
    messages and waits for the running task; `drain` makes a task still running after
    the grace period hand itself back to the queue rather than be cut off. Once the
    worker's threads have stopped, `flush` writes the outcomes of runs still being
    finished (actors.worker.finisher) before the process exits."""

    def __init__(
        self,
        sweeper: Callable[[], Sweeper],
        drain: Callable[[], None],
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self._make_sweeper = sweeper
        self._drain = drain
        self._flush = flush
        self._sweeper: Sweeper | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._sweeper = self._make_sweeper()
        self._sweeper.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        logger.info("worker stopping: the running task gets its grace period")
        self._drain()
        if self._sweeper is not None:
            self._sweeper.stop()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._flush()
