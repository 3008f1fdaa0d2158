"""Riding out a Redis outage in a worker: retry a write until Redis answers again.

A worker cannot do anything useful without Redis, so waiting beats giving up: a
task whose start or outcome is dropped would only come back through its lease,
one attempt poorer. Past `give_up_after` the error is raised; the lease then
decides the task's fate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Redis is unreachable, restarting or still loading its data (BusyLoadingError is a
# ConnectionError); anything else is a bug and is raised at once.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def when_redis_answers(
    call: Callable[[], T], *, what: str, give_up_after: float, pause: float = 0.5
) -> T:
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            return call()
        except REDIS_DOWN as error:
            if time.monotonic() >= deadline:
                raise
            logger.warning("Redis unavailable (%s); retrying to %s", error, what)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
