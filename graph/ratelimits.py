"""Rates a caller may not exceed on one web node, kept in process (no Redis round trip).

Submissions are admitted atomically across nodes, in Redis (`actors.client.admission`);
reads are cheaper and far more frequent, so each web node holds each caller to a
token bucket of its own: `ReadRateLimit` refuses a query past it with
`RATE_LIMITED` (`reason` `READ_RATE`, `retryAfter`). With N web nodes a caller may
read up to N times the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from graphql.execution import ExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.errors import RateLimited


@dataclass(slots=True)
class TokenBucket:
    """`burst` tokens to start with, refilled at `rate` a second; one per request or message."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> bool:
        """One token if there is one; False (nothing taken) if not."""
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1 - self._tokens) / self.rate) if self.rate > 0 else 60.0


class ReadRateLimit(SchemaExtension):
    """Each caller's queries drawn from its bucket of `rate` a second, `burst` at once.

    One instance is built per request (Strawberry's extension lifecycle); the buckets
    live in the `ReadBuckets` it is given, one per schema."""

    def __init__(self, *, buckets: ReadBuckets) -> None:
        self.buckets = buckets

    def on_execute(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        caller = getattr(context.context, "caller", None)
        if caller is not None and context.operation_type is OperationType.QUERY:
            bucket = self.buckets.of(caller)
            if not bucket.take():
                error = RateLimited(
                    "too many queries; retry after extensions.retryAfter seconds",
                    reason="READ_RATE",
                    retry_after=round(bucket.wait(), 3),
                )
                context.result = ExecutionResult(data=None, errors=[error])
        yield


@dataclass
class ReadBuckets:
    rate: float
    burst: int
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def of(self, caller: str) -> TokenBucket:
        # Callers are the configured keys' names (and "anonymous"): a bounded set.
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = TokenBucket(rate=self.rate, burst=self.burst)
        return bucket
