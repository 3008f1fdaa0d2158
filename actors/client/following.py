"""Following one task for a subscriber: its snapshot, then each newer change in order."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from actors.events import TaskChanged
from actors.memo import Recent
from actors.records import TaskRecord

logger = logging.getLogger(__name__)


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
    if current.status.terminal:
        return
    inbox = _Inbox(messages, nudged, _jittered(resync_after))
    outage_since: float | None = None
    try:
        while not current.status.terminal:
            item = await inbox.next()
            if item is _ENDED:
                return
            if isinstance(item, dict):
                record: TaskRecord | None = _decoded(item)
            else:  # quiet for too long, or nudged: re-read the record
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
                    inbox.resync_in(retry_after)
                    continue
                if outage_since is not None:
                    logger.info(
                        "task %s: record readable again after %.1f s",
                        current.id,
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
                inbox.resync_in(_jittered(resync_after))
            if record is None:
                return
            # Only this task's changes, whatever reached this listener's channel.
            if record.id == current.id and record.seq > current.seq:
                current = record
                yield current
    finally:
        inbox.close()


_ENDED = object()  # the message source ended
_RESYNC = object()  # read the record again


class _Inbox:
    """What a follower waits on, merged into one queue: the group's messages (read by a
    task of their own), a resync when they stop for a while, and nudges.

    Waiting is one `Queue.get` per event, and no wait at all when one is already in:
    a web node runs this for every subscriber on every event, so no task, future or
    timer is made per event; the quiet-period timer is re-armed only when it fires.

    `periodic`: the resync comes `quiet` seconds after the last one whether messages
    came meanwhile or not (a follower of many tasks hears from some of them while
    another's event may have been lost).
    """

    def __init__(
        self,
        messages: AsyncIterable[dict[str, Any]],
        nudged: Callable[[], Awaitable[object]] | None,
        quiet: float,
        *,
        periodic: bool = False,
    ) -> None:
        self._periodic = periodic
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._quiet = quiet
        self._timer: asyncio.TimerHandle | None = None
        self._reread = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._read(messages))]
        if nudged is not None:
            self._tasks.append(asyncio.ensure_future(self._nudges(nudged)))
        self.resync_in(quiet)

    async def next(self) -> Any:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def resync_in(self, seconds: float) -> None:
        """A resync `seconds` after the last message (or now), unless one comes first."""
        self._quiet = seconds
        self._last = self._loop.time()
        self._reread.set()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(self._last + seconds, self._check_quiet)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()

    def _check_quiet(self) -> None:
        due = self._last + self._quiet
        if self._loop.time() >= due:
            self._timer = None
            self._queue.put_nowait(_RESYNC)
        else:  # messages came meanwhile: wait out the rest of the quiet period
            self._timer = self._loop.call_at(due, self._check_quiet)

    async def _read(self, messages: AsyncIterable[dict[str, Any]]) -> None:
        try:
            async for message in messages:
                if not self._periodic:
                    self._last = self._loop.time()
                self._queue.put_nowait(message)
        except Exception as error:
            self._queue.put_nowait(error)
        else:
            self._queue.put_nowait(_ENDED)

    async def _nudges(self, nudged: Callable[[], Awaitable[object]]) -> None:
        while True:
            await nudged()
            # One nudge at a time: the next is awaited once this one's re-read is done.
            self._reread.clear()
            self._queue.put_nowait(_RESYNC)
            await self._reread.wait()


# Records decoded from events, by task and sequence number: a web node's followers of
# one task all receive each of its events, and a record never changes (frozen), so
# the first follower's decoding serves the others.
_DECODED: Recent[tuple[str, str], TaskRecord] = Recent(4096)


def _decoded(message: dict[str, Any]) -> TaskRecord:
    return _DECODED.get_or_make(
        TaskChanged.identity(message), lambda: TaskChanged.decode(message).record
    )


def _jittered(seconds: float) -> float:
    """`seconds`, give or take a fifth: thousands of quiet subscribers then re-read their
    tasks spread over time rather than all in the same instant."""
    return seconds * random.uniform(0.8, 1.2)
