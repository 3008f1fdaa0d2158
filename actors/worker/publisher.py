"""Publishing task events from a worker's synchronous code."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from actors.events import publish
from actors.records import TaskRecord


class ThreadedPublisher:
    """Publishes from synchronous code (a worker) through one long-lived event loop.

    One loop and one channel layer for the life of the process: a loop per event
    would leave a Redis connection pool behind each time.
    """

    def __init__(self, layer: Any) -> None:
        self._layer = layer
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="atelier-events", daemon=True
        )
        self._thread.start()

    def publish(self, record: TaskRecord, timeout: float = 5.0) -> None:
        future = asyncio.run_coroutine_threadsafe(publish(self._layer, record), self._loop)
        future.result(timeout)

    def close(self) -> None:
        async def shutdown() -> None:
            closer = getattr(self._layer, "close_pools", None) or getattr(
                self._layer, "flush", None
            )
            if closer is not None:
                await closer()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
