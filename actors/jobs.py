"""The job system as `graph/` sees it: submit, cancel, get, list, watch. Async throughout."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager, AsyncExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis

from actors.admission import Admission
from actors.broker import Actors
from actors.config import QUEUES
from actors.events import follow, group_name, publish
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store import TaskStore

logger = logging.getLogger(__name__)


def is_task_id(text: str) -> bool:
    """Task ids are UUIDs; anything else (e.g. "<id>:result") names no task."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class EnqueueFailed(Exception):
    """The task was recorded but could not be queued; it is marked FAILED."""


class StoreUnavailable(Exception):
    """Redis (task store, queues or channel layer) did not answer: try again later.

    The job system raises this, and only this, for an outage, so callers need not
    know Redis. The original error is its `__cause__`, for the log.
    """


# What an outage looks like from here: refused or dropped connections, timeouts,
# a Redis still loading its data (BusyLoadingError is a ConnectionError), and
# socket errors the channel layer lets through as they are.
OUTAGES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)


@contextmanager
def outages_raise_unavailable() -> Iterator[None]:
    """Turn a Redis outage inside the block into `StoreUnavailable`."""
    try:
        yield
    except OUTAGES as error:
        raise StoreUnavailable(f"the task store is unavailable ({type(error).__name__})") from error


class Breaker:
    """Fails calls at once for `hold` seconds after Redis timed out, then lets one through.

    A Redis that accepts connections but does not answer (frozen, overloaded,
    cut off) costs every call its full socket timeout, in a thread of a small
    pool: calls would queue behind one another for far longer than the timeout.
    After a timeout the breaker opens; once `hold` has passed, one call at a time
    tries Redis (the others still fail at once) until one succeeds. Refused
    connections fail fast by themselves and do not open it, so recovery from a
    restart is immediate.
    """

    def __init__(self, hold: float = 2.0) -> None:
        self.hold = hold
        self._open_until = float("-inf")
        self._tripped = False
        self._probing = False

    @contextmanager
    def passage(self) -> Iterator[None]:
        probe = self._tripped
        if probe and (self._probing or time.monotonic() < self._open_until):
            raise StoreUnavailable("the task store timed out a moment ago")
        self._probing = probe
        try:
            yield
        except StoreUnavailable as error:
            timed_out = isinstance(error.__cause__, redis.exceptions.TimeoutError | TimeoutError)
            if timed_out or probe:
                self._tripped, self._open_until = True, time.monotonic() + self.hold
            raise
        else:
            self._tripped = False
        finally:
            if probe:
                self._probing = False


_inside: ContextVar[bool] = ContextVar("atelier_job_system_call", default=False)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _translated(
    method: Callable[Concatenate[JobSystem, _P], Awaitable[_T]],
) -> Callable[Concatenate[JobSystem, _P], Awaitable[_T]]:
    """Outages become `StoreUnavailable`, and pass through the job system's breaker."""

    @functools.wraps(method)
    async def wrapper(self: JobSystem, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if _inside.get():  # a call within a call (cancel reads the task first)
            return await method(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            with self._breaker.passage(), outages_raise_unavailable():
                return await method(self, *args, **kwargs)
        finally:
            _inside.reset(token)

    return wrapper


Listen = Callable[[str], AbstractAsyncContextManager[AsyncIterable[dict[str, Any]]]]


class Comebacks:
    """Notices Redis coming back after an outage, for the task followers of one process.

    Events published while Redis was out, or before the channel layer had
    subscribed again, are lost; a follower would learn of them only at its next
    quiet-period resync. While anyone follows a task this pings Redis every
    `interval` seconds and, when it answers again after failing, wakes every
    follower to re-read its task: at once, and again after `settle` seconds, by
    when the channel layer has re-subscribed (it retries every second).
    """

    def __init__(
        self, ping: Callable[[], object], *, interval: float = 1.0, settle: float = 2.0
    ) -> None:
        self._ping = ping
        self.interval = interval
        self.settle = settle
        self._followers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._back = asyncio.Event()
        self._pinging: asyncio.Task[None] | None = None

    async def wait(self) -> None:
        """Returns when Redis next comes back after an outage."""
        await self._back.wait()

    def follower_joined(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): start afresh
            self._loop, self._followers, self._back = loop, 0, asyncio.Event()
            self._pinging = None
        self._followers += 1
        if self._pinging is None or self._pinging.done():
            self._pinging = loop.create_task(self._watch())

    def follower_left(self) -> None:
        self._followers = max(0, self._followers - 1)

    def _wake(self) -> None:
        woken, self._back = self._back, asyncio.Event()
        woken.set()

    async def _watch(self) -> None:
        assert self._loop is not None
        out = False
        while self._followers:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._ping), self.interval + 5)
            except OUTAGES:
                out = True
            else:
                if out:
                    out = False
                    logger.info("Redis is back: task followers re-read their tasks")
                    self._wake()
                    self._loop.call_later(self.settle, self._wake)
            await asyncio.sleep(self.interval)


class JobSystem:
    def __init__(
        self, store: TaskStore, actors: Actors, channel_layer: Any, admission: Admission
    ) -> None:
        self.store = store
        self._actors = actors
        self._layer = channel_layer
        self._admission = admission
        self._comebacks = Comebacks(store.client.ping)
        self._breaker = Breaker()

    @_translated
    async def submit(
        self,
        owner: str,
        kind: TaskKind,
        params: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        *,
        idempotency_key: str | None = None,
    ) -> TaskRecord:
        """Record a QUEUED task and enqueue it. With a known idempotency key, the first task.

        Raises `Refused` when the owner submits too fast or has too many unfinished
        tasks, or the queues are full; a repeat of a known idempotency key is never
        refused. Raises `StoreUnavailable` during a Redis outage.
        """
        if idempotency_key is not None:
            earlier = await asyncio.to_thread(self.store.find_idempotent, owner, idempotency_key)
            if earlier is not None:
                return earlier
        await asyncio.to_thread(
            self._admission.admit,
            owner,
            self.store.live_key(owner),
            [self.store.queue_key(queue) for queue in QUEUES.values()],
        )
        record = TaskRecord(
            id=str(uuid.uuid4()),
            kind=kind,
            owner=owner,
            queue=QUEUES[kind],
            params=dict(params),
        )
        record, created = await asyncio.to_thread(
            self.store.create, record, inputs, idempotency_key=idempotency_key
        )
        if not created:
            return record
        try:
            await asyncio.to_thread(self._actors[kind].send, record.id)
        except Exception as error:
            logger.exception("could not enqueue task %s", record.id)
            failed = await asyncio.to_thread(
                self.store.fail, record, "ENQUEUE_FAILED", "the task could not be queued"
            )
            if failed is not None:
                await self._publish(failed)
            raise EnqueueFailed(record.id) from error
        try:
            await asyncio.to_thread(self.store.dispatched, record.id)
        except Exception:
            # The task is queued either way; the sweeper sends a second message,
            # which the worker drops (actors.store: leases and dispatch).
            logger.warning("task %s sent but not marked dispatched", record.id, exc_info=True)
        return record

    @_translated
    async def get(self, owner: str, task_id: str) -> TaskRecord | None:
        """The task, or None when unknown, expired or someone else's."""
        if not is_task_id(task_id):
            return None
        record = await asyncio.to_thread(self.store.get, task_id)
        return record if record is not None and record.owner == owner else None

    @_translated
    async def list(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        return await asyncio.to_thread(self.store.list_for_owner, owner, status=status, limit=limit)

    @_translated
    async def cancel(self, owner: str, task_id: str) -> TaskRecord | None:
        """Cancel the task (see store.cancel); None when unknown or someone else's."""
        before = await self.get(owner, task_id)
        if before is None or before.status.terminal:
            return before
        record = await asyncio.to_thread(self.store.cancel, task_id)
        if record is not None and record.seq != before.seq:
            await self._publish(record)
        return record

    @_translated
    async def queue_position(self, record: TaskRecord) -> int | None:
        if record.status is not TaskStatus.QUEUED:
            return None
        position = await asyncio.to_thread(self.store.queue_position, record)
        # Read after the record: a task that left the queue in between is starting.
        return position or 1

    @_translated
    async def result_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.result_png, task_id)

    @_translated
    async def preview_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.preview_png, task_id)

    async def watch(
        self, owner: str, task_id: str, listen: Listen
    ) -> AsyncGenerator[TaskRecord, None]:
        """Snapshot then changes until terminal; nothing for an unknown task.

        `listen(group)` joins the task's channel-layer group and gives its messages;
        it is entered before the snapshot is read, so nothing falls between. Raises
        `StoreUnavailable` when Redis is out while joining or reading the first
        snapshot; later, an outage only delays events (see `actors.events.follow`).
        Close the iterator (`contextlib.aclosing`) to leave the group at once.
        """
        async with AsyncExitStack() as stack:
            with outages_raise_unavailable():
                messages = await stack.enter_async_context(listen(group_name(task_id)))
            self._comebacks.follower_joined()
            stack.callback(self._comebacks.follower_left)
            async for record in follow(
                lambda: self.get(owner, task_id),
                messages,
                transient=(StoreUnavailable,),
                nudged=self._comebacks.wait,
            ):
                yield record

    async def _publish(self, record: TaskRecord) -> None:
        try:
            await publish(self._layer, record)
        except Exception:
            # Subscribers resynchronise from the record; a lost event costs latency only.
            logger.exception("could not publish an event for task %s", record.id)
