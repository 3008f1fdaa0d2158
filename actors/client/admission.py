"""Who may queue a task now: per-key submit rate, unfinished tasks per key, queue length.

One Lua script decides atomically and consumes a token only when it admits, so a
flood is refused at the door instead of queued without bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from actors.store import scripts

_ADMIT = scripts.load("admit")  # its KEYS and ARGV: at the top of actors/store/lua/admit.lua


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    submit_rate: float = 2.0  # tokens a second, per API key
    submit_burst: int = 30
    max_unfinished_per_owner: int = 100
    max_queued: int = 1000  # waiting tasks, all queues together


class Refused(Exception):
    """A submission turned away; `retry_after` says when trying again may succeed."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Admission:
    """Who may queue a task now, decided atomically in Redis for every web node.

    `admit` takes one token from the owner's bucket, or raises `Refused` with the
    reason (SUBMIT_RATE, UNFINISHED_TASKS, QUEUE_FULL) and when to retry; a refused
    call takes nothing.
    """

    def __init__(self, client: redis.Redis, policy: AdmissionPolicy, *, prefix: str) -> None:
        self.policy = policy
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)

    def admit(self, owner: str, live_key: str, queue_keys: list[str], count: int = 1) -> None:
        """Take `count` submit tokens for `owner` (tasks submitted together: all or
        none), or raise `Refused`; OVER_BURST when more than a full bucket holds."""
        policy = self.policy
        verdict = self._admit(
            keys=[f"{self._prefix}bucket:{owner}", live_key, *queue_keys],
            args=[
                int(time.time() * 1000),
                policy.submit_rate,
                policy.submit_burst,
                policy.max_unfinished_per_owner,
                policy.max_queued,
                count,
            ],
        )
        if int(verdict[0]) != 1:
            raise Refused(verdict[1].decode(), int(verdict[2]) / 1000)
