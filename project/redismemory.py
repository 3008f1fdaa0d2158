"""How full Redis is, and whether it has evicted keys: for /readyz, /metrics and the log.

Atelier runs Redis under `maxmemory-policy noeviction` (deploy/redis.conf): a full
Redis refuses writes, which the job system rides out as an outage, and never drops a
task's record or result before its TTL. Any other policy may evict them (a finished
task then reads as null before its `expiresAt`), so keys evicted anyway are counted
and logged, and memory nearing `maxmemory` is reported before writes are refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("atelier.redis")

# Used memory past this share of maxmemory is reported as a warning (not unready).
WARN_RATIO = 0.9


@dataclass(frozen=True, slots=True)
class RedisMemory:
    """Redis's memory as INFO reports it: sections "memory" and "stats"."""

    used: int  # bytes counted against maxmemory (used_memory less AOF and replica buffers)
    limit: int  # maxmemory in bytes; 0 = none set
    policy: str  # maxmemory-policy
    evicted_keys: int  # since Redis started (or CONFIG RESETSTAT)

    @classmethod
    def from_info(cls, memory: Mapping[str, Any], stats: Mapping[str, Any]) -> RedisMemory:
        not_counted = int(memory.get("mem_not_counted_for_evict", 0))
        return cls(
            used=int(memory["used_memory"]) - not_counted,
            limit=int(memory.get("maxmemory", 0)),
            policy=str(memory.get("maxmemory_policy", "")),
            evicted_keys=int(stats.get("evicted_keys", 0)),
        )

    @property
    def ratio(self) -> float | None:
        """Used memory as a share of maxmemory; None without a maxmemory."""
        return self.used / self.limit if self.limit else None

    def check(self) -> str:
        """The readiness check's word on memory: "ok", or a warning that says why."""
        ratio = self.ratio
        if ratio is None:
            verdict = "ok (no maxmemory set: Redis may take all of the host's memory)"
        elif ratio >= 1:
            verdict = (
                f"warning: full ({ratio:.0%} of maxmemory): new tasks and cancels are "
                "refused (SERVICE_UNAVAILABLE) and workers wait to write until memory frees"
            )
        elif ratio >= WARN_RATIO:
            verdict = f"warning: {ratio:.0%} of maxmemory used; writes are refused once full"
        else:
            verdict = "ok"
        if self.evicted_keys:
            verdict += (
                f"; warning: {self.evicted_keys} keys evicted since Redis started (policy "
                f"{self.policy}): finished tasks may be gone before their expiresAt"
            )
        return verdict


class EvictionWatch:
    """Says in the log when Redis's evicted-keys count grows, once per growth seen,
    whichever of /readyz and /metrics reads it first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: int | None = None

    def saw(self, memory: RedisMemory) -> None:
        with self._lock:
            before, self._seen = self._seen, memory.evicted_keys
        if memory.evicted_keys and (before is None or memory.evicted_keys > before):
            grown = memory.evicted_keys - (before or 0)
            logger.warning(
                "Redis evicted %d keys%s (%d since it started; maxmemory-policy %s): task "
                "records and results may be gone before their TTL; use noeviction and "
                "size maxmemory (see README, Redis memory)",
                grown,
                "" if before is None else " since last looked",
                memory.evicted_keys,
                memory.policy,
            )


# One per web process: /readyz and /metrics share what was last seen.
evictions = EvictionWatch()
