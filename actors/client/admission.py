"""Who may queue a task now: per-key submit rate, unfinished tasks per key, queue length.

One Lua script decides atomically and consumes a token only when it admits, so a
flood is refused at the door instead of queued without bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

# KEYS: token bucket (hash), owner's live-task counter, waiting sets of every queue...
# ARGV: now_ms, rate per s, burst, max unfinished, max queued.
# Returns {1} when admitted, else {0, reason, retry_after_ms}.
_ADMIT = """
local live = tonumber(redis.call("GET", KEYS[2]) or "0")
if live >= tonumber(ARGV[4]) then return {0, "UNFINISHED_TASKS", 1000} end
local queued = 0
for i = 3, #KEYS do queued = queued + redis.call("ZCARD", KEYS[i]) end
if queued >= tonumber(ARGV[5]) then return {0, "QUEUE_FULL", 1000} end
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call("HMGET", KEYS[1], "tokens", "at")
local tokens = tonumber(state[1] or ARGV[3])
local at = tonumber(state[2] or ARGV[1])
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < 1 then
  return {0, "SUBMIT_RATE", math.ceil((1 - tokens) * 1000 / rate)}
end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens - 1), "at", ARGV[1])
redis.call("PEXPIRE", KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {1}
"""


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
    def __init__(self, client: redis.Redis, policy: AdmissionPolicy, *, prefix: str) -> None:
        self.policy = policy
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)

    def admit(self, owner: str, live_key: str, queue_keys: list[str]) -> None:
        """Take one submit token for `owner`, or raise `Refused`."""
        policy = self.policy
        verdict = self._admit(
            keys=[f"{self._prefix}bucket:{owner}", live_key, *queue_keys],
            args=[
                int(time.time() * 1000),
                policy.submit_rate,
                policy.submit_burst,
                policy.max_unfinished_per_owner,
                policy.max_queued,
            ],
        )
        if int(verdict[0]) != 1:
            raise Refused(verdict[1].decode(), int(verdict[2]) / 1000)
