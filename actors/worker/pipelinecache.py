"""Loaded pipelines kept warm in a worker process, least recently used evicted first."""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

logger = logging.getLogger(__name__)


class PipelineCache:
    """Loaded pipelines of one worker process, by (kind, model), at most `capacity`.

    A hit costs nothing; a miss loads (seconds to minutes) after evicting the least
    recently used pipeline and handing its memory back (gc, then CUDA's cache). One
    thread at a time: a worker runs one task at a time.
    """

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = max(1, capacity)
        self._loaded: OrderedDict[Hashable, Any] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._loaded

    def loaded(self) -> tuple[Hashable, ...]:
        """The keys of the pipelines held now, least recently used first.

        Safe to call from another thread: the copy is one step under the GIL.
        """
        return tuple(self._loaded)

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The pipeline for `key`, loading it (and evicting the stalest) when absent."""
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        while len(self._loaded) >= self.capacity:
            evicted, _ = self._loaded.popitem(last=False)
            logger.info("evicting pipeline %s", evicted)
            _release_memory()
        pipeline = load()
        self._loaded[key] = pipeline
        return pipeline


def _release_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
