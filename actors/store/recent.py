"""Tasks ended in each of the last minutes: the operators' recent failures and throughput.

The script that ends a task (task_library.lua's `terminate`) counts it twice: in the
counts since the start (`TaskCounts`) and in the hash of the minute it ended in, by
Redis's clock. A minute's hash expires about an hour later (sooner when the task TTL,
ATELIER_RESULT_TTL, is shorter: older minutes then read as empty), so nothing needs
pruning, and a read of n minutes costs n hash reads in one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis

from actors.store.counts import TaskCounts
from actors.store.keys import KeyLayout

# Minutes a reader may ask for: the hashes live a little longer (MINUTE_TTL in the script).
MAX_MINUTES = 60


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """Tasks that ended from `start` to a minute later (only `finished` and `failed`
    of `counts` are filled)."""

    start: datetime
    counts: TaskCounts


def read_recent(client: redis.Redis, layout: KeyLayout, minutes: int) -> list[MinuteCounts]:
    """The last `minutes` minutes (the current one, still counting, last), oldest first;
    a minute without ends has empty counts."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be from 1 to {MAX_MINUTES}")
    seconds, _ = cast(tuple[int, int], client.time())
    now = seconds // 60
    first = now - minutes + 1
    with client.pipeline(transaction=False) as pipe:
        for minute in range(first, now + 1):
            pipe.hgetall(layout.minute_counts_key(minute))
        raws = cast(list[dict[bytes, bytes]], pipe.execute())
    return [
        MinuteCounts(datetime.fromtimestamp(minute * 60, UTC), TaskCounts.from_hash(raw))
        for minute, raw in zip(range(first, now + 1), raws, strict=True)
    ]
