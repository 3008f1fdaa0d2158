"""How many GraphQL-over-SSE operations one API key runs at once on a web node.

A websocket holds at most `ATELIER_WS_MAX_SUBSCRIPTIONS` operations at once
(`project.edge.wslimits`). Over SSE every operation is a connection of its own
(distinct connections mode), so the same number is held per API key instead: a
client behind a proxy that blocks websockets gets what one websocket would give it.
An operation over it is answered with the websocket's error (`RATE_LIMITED`, reason
`SUBSCRIPTION_LIMIT`, `limit`); a place is free again once an operation has ended
and left its group, at completion or at once when its client goes.
"""

from __future__ import annotations

from collections import Counter


class StreamsPerKey:
    """The operations each caller has open, against `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def take(self, caller: str) -> bool:
        """Counts one more operation for `caller`; False (nothing counted) at the limit."""
        if self._open[caller] >= self.limit:
            return False
        self._open[caller] += 1
        return True

    def give_back(self, caller: str) -> None:
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]

    def open(self, caller: str) -> int:
        return self._open[caller]
