"""Progress events: each record change is published to the channel-layer group `task.<id>`."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from actors.records import TaskRecord, from_event, to_event

logger = logging.getLogger(__name__)

EVENT_TYPE = "task.event"


def group_name(task_id: str) -> str:
    return f"task.{task_id}"


async def publish(layer: Any, record: TaskRecord) -> None:
    await layer.group_send(group_name(record.id), to_event(record))


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


async def follow(
    snapshot: Callable[[], Awaitable[TaskRecord | None]],
    messages: AsyncIterable[dict[str, Any]],
    *,
    resync_after: float = 30.0,
    transient: tuple[type[BaseException], ...] = (),
    retry_after: float = 1.0,
    nudged: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIterator[TaskRecord]:
    """The events of one task, for a subscriber that has already joined its group.

    Yields the current snapshot, then every newer change in sequence order
    (older and duplicate sequence numbers are dropped), and ends after the first
    terminal state. Yields nothing if the task does not exist. After
    `resync_after` seconds without an event the snapshot is read again, so a
    subscriber never waits forever on an event that was lost in transit.

    A re-read that fails with one of the `transient` errors (an outage) is tried
    again every `retry_after` seconds, still listening for events meanwhile, until
    it succeeds: the subscriber stays and catches up from the record once the
    store is back. An error reading the first snapshot is raised as it is.

    When `nudged()` returns (e.g. Redis is back after an outage, during which
    events were lost) the snapshot is read again at once.
    """
    current = await snapshot()
    if current is None:
        return
    yield current
    iterator = aiter(messages)
    # One pending read at a time, never cancelled on a resync: cancelling an async
    # generator's __anext__ would close the generator for good.
    pending: asyncio.Future[dict[str, Any]] | None = None
    nudge: asyncio.Future[Any] | None = None
    wait = _jittered(resync_after)
    outage_since: float | None = None
    try:
        while not current.status.terminal:
            pending = pending or asyncio.ensure_future(anext(iterator))
            if nudged is not None and nudge is None:
                nudge = asyncio.ensure_future(nudged())
            waiting: set[asyncio.Future[Any]] = {pending} if nudge is None else {pending, nudge}
            await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if pending.done():
                try:
                    record: TaskRecord | None = from_event(pending.result())
                except StopAsyncIteration:
                    return
                pending = None
            else:
                if nudge is not None and nudge.done():
                    nudge = None
                try:
                    record = await snapshot()
                except transient as error:
                    if outage_since is None:
                        outage_since = time.monotonic()
                        logger.warning(
                            "task %s: cannot re-read the record (%s); retrying every %.1f s",
                            current.id,
                            error,
                            retry_after,
                        )
                    wait = retry_after
                    continue
                if outage_since is not None:
                    logger.info(
                        "task %s: record readable again after %.1f s",
                        current.id,
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
                wait = _jittered(resync_after)
            if record is None:
                return
            if record.seq > current.seq:
                current = record
                yield current
    finally:
        for future in (pending, nudge):
            if future is not None:
                future.cancel()


def _jittered(seconds: float) -> float:
    """`seconds`, give or take a fifth: thousands of quiet subscribers then re-read their
    tasks spread over time rather than all in the same instant."""
    return seconds * random.uniform(0.8, 1.2)
