"""Who may queue a task now: per-key submit rate, unfinished tasks per key, queue length.

Decided atomically in Redis, taking tokens only when it admits, so a flood is refused
at the door instead of queued without bound: alone (`Admission.admit`), or in the
same step as the first task it admits is recorded (`Admission.gate`, for
`TaskStore.create`), which spares a round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from actors.store import scripts
from actors.store.gate import Gate, Refused

__all__ = ["Admission", "AdmissionPolicy", "Refused"]


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    submit_rate: float = 2.0  # tokens a second, per API key
    submit_burst: int = 30
    max_unfinished_per_owner: int = 100
    max_queued: int = 1000  # waiting tasks, all queues together


class Admission:
    """Who may queue a task now, decided atomically in Redis for every web node.

    `admit` takes one token from the owner's bucket, or raises `Refused` with the
    reason (SUBMIT_RATE, UNFINISHED_TASKS, QUEUE_FULL) and when to retry; a refused
    call takes nothing. `gate` gives the same decision to `TaskStore.create`, to be
    taken with the record.
    """

    def __init__(self, client: redis.Redis, policy: AdmissionPolicy, *, prefix: str) -> None:
        self.policy = policy
        self._prefix = prefix
        # Its KEYS and ARGV: at the top of actors/store/lua/admit.lua.
        self._admit = client.register_script(scripts.ADMIT)

    def admit(self, owner: str, live_key: str, queue_keys: Sequence[str], count: int = 1) -> None:
        """Take `count` submit tokens for `owner` (tasks submitted together: all or
        none), or raise `Refused`; OVER_BURST when more than a full bucket holds."""
        gate = self.gate(owner, queue_keys, count)
        verdict = self._admit(keys=[gate.bucket, live_key, *gate.queues], args=gate.terms)
        if int(verdict[0]) != 1:
            raise Refused(verdict[1].decode(), int(verdict[2]) / 1000)

    def gate(self, owner: str, queue_keys: Sequence[str], count: int = 1) -> Gate:
        """What `admit` decides on, for the store to decide it as it records the first
        of the `count` tasks (the owner's live-task counter is the record's own key)."""
        policy = self.policy
        terms = (
            int(time.time() * 1000),
            policy.submit_rate,
            policy.submit_burst,
            policy.max_unfinished_per_owner,
            policy.max_queued,
            count,
        )
        return Gate(f"{self._prefix}bucket:{owner}", queue_keys, terms)
