"""Dramatiq middleware that loads pipelines before a worker takes its first task."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from dramatiq import Broker, Middleware, Worker

from actors.records import TaskKind

logger = logging.getLogger(__name__)


class PreloadPipelines(Middleware):
    """Warm the default pipeline of each kind, so the first task pays no load time.

    A pipeline that cannot load (weights missing) is logged and skipped: its tasks
    then fail with the model's own error, and the other kinds still run.
    """

    def __init__(
        self, kinds: Iterable[TaskKind], preload: Callable[[TaskKind], None], capacity: int
    ) -> None:
        self.kinds = tuple(kinds)
        self._preload = preload
        self._capacity = capacity

    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if len(self.kinds) > self._capacity:
            logger.warning(
                "preloading %d kinds into a cache of %d: the first ones will be evicted; "
                "raise ATELIER_PIPELINE_CACHE_SIZE",
                len(self.kinds),
                self._capacity,
            )
        for kind in self.kinds:
            try:
                self._preload(kind)
            except Exception as error:
                logger.warning("could not preload the %s pipeline: %s", kind.value, error)
            else:
                logger.info("preloaded the %s pipeline", kind.value)
