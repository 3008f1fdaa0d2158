"""Redis outages: what they look like, and how each side of the job system rides
them out.

A worker cannot do anything useful without Redis, so it waits (`when_redis_answers`):
a task whose start or outcome is dropped would only come back through its lease,
one attempt poorer. The web answers at once instead (`StoreUnavailable`, through a
`Breaker` so a frozen Redis does not stack up timeouts), and `Comebacks` tells
the subscriptions it holds to re-read their task once Redis is back.

A full Redis is an outage too: at `maxmemory` under `noeviction` it still answers
reads but refuses every write that may grow it (`OutOfMemoryError`), until finished
tasks expire or an operator gives it memory. Redis 7 names that refusal from inside
a Lua script as it does outside; Redis 6 reports it as a plain script error, which
`full_named` (and `Script`) name again, so that `OUTAGES` catches it on either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import redis

from actors.metrics import redis_error

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What an outage looks like: refused or dropped connections, timeouts, a Redis
# still loading its data (BusyLoadingError is a ConnectionError), socket errors
# the channel layer lets through as they are, and a full Redis refusing a write.
# Anything else is a bug.
OUTAGES: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    OSError,
)

# How Redis words its refusal of a write at maxmemory (shared.oomerr), on every version.
_FULL = "command not allowed when used memory > 'maxmemory'"

# What a client is told to wait before trying again (`StoreUnavailable.retry_after`):
# an unreachable Redis is usually a restart or a failover, seconds; a full one frees
# memory only as finished tasks expire or once an operator acts.
RETRY_UNREACHABLE = 1.0
RETRY_FULL = 5.0
# How often a worker waiting out a full Redis says so again in its log.
_FULL_REMINDER = 60.0


def is_full(error: BaseException) -> bool:
    """Whether `error` is a full Redis refusing a write, on any Redis version."""
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        return True
    return isinstance(error, redis.exceptions.ResponseError) and _FULL in str(error)


@contextmanager
def full_named() -> Iterator[None]:
    """A full Redis's refusal inside the block raises `OutOfMemoryError`, also where
    Redis 6 reports it as a Lua script's error (Dramatiq's scripts, admission's)."""
    try:
        yield
    except redis.exceptions.ResponseError as error:
        if is_full(error) and not isinstance(error, redis.exceptions.OutOfMemoryError):
            raise redis.exceptions.OutOfMemoryError(str(error)) from error
        raise


class Script:
    """A Lua script registered on `client`, whose refusal by a full Redis raises
    `OutOfMemoryError` on any Redis version (see `full_named`)."""

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._script = client.register_script(source)

    def __call__(
        self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None
    ) -> Any:
        """Its reply; on a pipeline (`client`), queued there (the pipeline's execute
        answers, under `full_named`)."""
        with full_named():
            return self._script(keys=list(keys), args=list(args), client=client)


def when_redis_answers(
    call: Callable[[], T], *, what: str, give_up_after: float, pause: float = 0.5
) -> T:
    """`call()`, retried while Redis is out: up to `give_up_after` seconds while it is
    unreachable (then the error is raised), and for as long as it lasts while it is
    full. A full Redis answers, and gets memory back by itself as finished tasks
    expire (within their TTL): giving up would throw away the work this write
    records and count the task's run as lost."""
    deadline = time.monotonic() + give_up_after
    reminded = float("-inf")
    while True:
        try:
            with full_named():
                return call()
        except OUTAGES as error:
            redis_error(error)
            full = isinstance(error, redis.exceptions.OutOfMemoryError)
            if not full and time.monotonic() >= deadline:
                raise
            if not full:
                logger.warning("Redis unavailable (%s); retrying to %s", error, what)
            elif time.monotonic() - reminded >= _FULL_REMINDER:
                reminded = time.monotonic()
                logger.warning(
                    "Redis is full (maxmemory reached: %s); waiting for memory to %s", error, what
                )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


class StoreUnavailable(Exception):
    """Redis (task store, queues or channel layer) did not answer, or is full and
    refused a write: try again in `retry_after` seconds.

    The job system raises this, and only this, for an outage, so callers need not
    know Redis. The original error is its `__cause__`, for the log.
    """

    def __init__(self, message: str, *, retry_after: float = RETRY_UNREACHABLE) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@contextmanager
def outages_raise_unavailable() -> Iterator[None]:
    """Turn a Redis outage inside the block into `StoreUnavailable`."""
    try:
        with full_named():
            yield
    except OUTAGES as error:
        redis_error(error)
        if isinstance(error, redis.exceptions.OutOfMemoryError):
            raise StoreUnavailable(
                "the task store is full and takes no new writes for now", retry_after=RETRY_FULL
            ) from error
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
            wait = max(RETRY_UNREACHABLE, self._open_until - time.monotonic())
            raise StoreUnavailable("the task store timed out a moment ago", retry_after=wait)
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
