"""Giving a large request's memory back to the system once it has been answered.

A web node handles a few large requests (base64 images of up to 10 MB, decoded to
up to 60 MB to check them) among many small ones. What they free lingers: in
reference cycles, which this process collects rarely (see project.asgi), and then
in glibc's arenas (one per thread that allocated it), kept for reuse; two near-limit
face swaps left a node some 60 MB larger for good. After a request whose body passed
`LARGE`, a collection frees the cycles and `malloc_trim` hands the free pages back:
at most once every `EVERY` seconds, and always after the last such request. Small
requests cost nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

LARGE = 1024 * 1024  # request body bytes
EVERY = 1.0  # seconds


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None  # glibc only


def give_back_freed_memory() -> None:
    """Collect reference cycles, then return the allocator's free pages to the system
    (glibc; elsewhere only the collection)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _AfterLargeRequests:
    def __init__(self) -> None:
        self._last = float("-inf")
        self._pending: asyncio.TimerHandle | None = None

    def note(self) -> None:
        """A large request was answered: give its memory back soon."""
        if self._pending is not None:
            return  # the one pending covers this request too
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last + EVERY - loop.time())
        self._pending = loop.call_later(delay, self._run, loop)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pending = None
        self._last = loop.time()
        give_back_freed_memory()


after_large_requests = _AfterLargeRequests()
