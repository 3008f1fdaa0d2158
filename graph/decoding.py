"""Decoding submitted images to check them, on a few threads of the web node's own.

For a caller already admitted (`JobSystem.submit` calls `decode_inputs` as its
`vet`): `limits.decode_concurrency` decodes run at once in this process, never on
the default executor (which the job system's Redis calls use), each under a time
bound. (The memory a large submission freed is handed back once it has been
answered: `project.edge.bodylimit`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from prometheus_client import Counter, Histogram

from actors.interface import ImageLimits, InvalidImage, decode_image
from graph.errors import BadUserInput, RateLimited
from graph.limits import InputLimits
from graph.validation import Submission, image_limits

_T = TypeVar("_T")

DECODES = Histogram(
    "atelier_image_decode_seconds",
    "Input images decoded by this web node to check them, after admission, by outcome "
    "(decoded, refused).",
    ["outcome"],
)
DECODERS_BUSY = Counter(
    "atelier_image_decoders_busy_total",
    "Submissions refused (RATE_LIMITED, reason DECODERS_BUSY) because no decode slot "
    "came free in time on this web node.",
)


async def decode_inputs(submission: Submission, limits: InputLimits) -> None:
    """Decode each input image, as a task will, to refuse what cannot be decoded.

    For a caller already admitted: `limits.decode_concurrency` decodes run at once
    in this process, on threads of their own (never the default executor's, which
    the job system's Redis calls use); a decode waits at most `decode_timeout` for
    a slot (else `RateLimited`, reason DECODERS_BUSY) and may take as long again
    (else `BadUserInput`, as for any undecodable image).
    """
    decoders = _decoders(limits.decode_concurrency)
    bounds = image_limits(limits, max_seconds=limits.decode_timeout)
    decoded: dict[str, Any] = {}
    for name, data in submission.inputs.items():
        path = submission.fields.get(name, "input")
        try:
            image = await decoders.run(functools.partial(_timed_decode, data, bounds), limits)
        except InvalidImage as error:
            raise BadUserInput(error.message, path) from None
        if submission.vet_decoded is not None:  # else each image is let go at once
            decoded[name] = image
    if submission.vet_decoded is not None:
        await decoders.run(functools.partial(submission.vet_decoded, decoded), limits)


def _timed_decode(data: bytes, limits: ImageLimits) -> Any:
    started = time.perf_counter()
    outcome = "refused"
    try:
        image = decode_image(data, limits=limits)
        outcome = "decoded"
        return image
    finally:
        DECODES.labels(outcome).observe(time.perf_counter() - started)


class _Decoders:
    """`size` threads for decoding, and the slots that keep callers off a busy pool.

    A slot is held until its decode ends, even when the request that asked for it
    is gone, so the threads never queue work behind a caller's back. The threads run
    at a lower priority: on a node whose cores they fill, the event loop still gets
    one at once, and answers everything else (health checks, progress) on time.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._pool = ThreadPoolExecutor(
            size, thread_name_prefix="atelier-decode", initializer=_lower_priority
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)

    async def run(self, call: Callable[[], _T], limits: InputLimits) -> _T:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): slots of its own
            self._loop, self._slots = loop, asyncio.Semaphore(self._size)
        slots = self._slots
        try:
            async with asyncio.timeout(limits.decode_timeout):
                await slots.acquire()
        except TimeoutError:
            DECODERS_BUSY.inc()
            raise RateLimited(
                "the server is busy checking other images; retry after "
                "extensions.retryAfter seconds",
                reason="DECODERS_BUSY",
                retry_after=1.0,
            ) from None
        try:
            future = self._pool.submit(call)
        except BaseException:
            slots.release()
            raise
        future.add_done_callback(functools.partial(_release, loop, slots))
        return await asyncio.wrap_future(future)


def _release(loop: asyncio.AbstractEventLoop, slots: asyncio.Semaphore, _: Future[Any]) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: its slots went with it
        loop.call_soon_threadsafe(slots.release)


def _lower_priority() -> None:
    # Linux gives each thread its own nice value; elsewhere this may not apply.
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + 10)


@functools.cache
def _decoders(size: int) -> _Decoders:
    return _Decoders(size)
