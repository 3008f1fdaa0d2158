"""How the web process's Redis clients connect: fail fast in an outage, reconnect after it.

Every Redis client of the web process (the task store's, the channel layer's)
fails fast while Redis is out (a couple of seconds at most, instead of hanging on
a dead connection) and reconnects by itself once it is back: a client sees
SERVICE_UNAVAILABLE meanwhile, never a hang. The policy is stated once here, for
both the synchronous and the asyncio clients.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialWithJitterBackoff

TIMEOUT = 2.0  # seconds to connect, and to wait on one reply
# One quick retry of a refused or dropped connection (a pooled one may predate a
# restart); none of a timeout, which has already taken its time.
RETRIES = 1


def fail_fast(retry: type[redis.retry.Retry | redis.asyncio.retry.Retry]) -> dict[str, Any]:
    """Connection options for a Redis client; `retry` is the `Retry` class of its kind
    (`redis.retry.Retry`, or `redis.asyncio.retry.Retry` for an asyncio client)."""
    return {
        "socket_connect_timeout": TIMEOUT,
        "socket_timeout": TIMEOUT,
        "retry": retry(
            ExponentialWithJitterBackoff(base=0.05, cap=0.5),
            RETRIES,
            supported_errors=(redis.ConnectionError,),
        ),
    }
