"""How many websockets one web node holds: in all, and from one client address.

A client past either cap gets its handshake accepted and the socket closed at once
with `TOO_MANY_CONNECTIONS` (4503): a code a client can read and, unlike the
protocol's fatal 4400-range codes, one graphql-ws retries with back-off. Refusing
the handshake instead would show a client only a bare 1006.

The address is the one daphne puts in the ASGI scope: behind a proxy, run daphne
with `--proxy-headers` so that it is the client's, not the proxy's.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from project.edge.refusals import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("atelier.transport")

TOO_MANY_CONNECTIONS = (4503, "Too many connections; retry later")


@dataclass(frozen=True, slots=True)
class ConnectionCaps:
    total: int = 10_000  # 0: no cap
    per_client: int = 200  # 0: no cap


class WebsocketCaps:
    """ASGI middleware holding websockets to `ConnectionCaps`."""

    def __init__(self, app: ASGIApp, caps: ConnectionCaps) -> None:
        self.app = app
        self.caps = caps
        self.open = 0
        self.by_client: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        if self._full(address):
            await self._refuse(scope, receive, send, address)
            return
        self.open += 1
        self.by_client[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.by_client[address] -= 1
            if self.by_client[address] <= 0:
                del self.by_client[address]

    def _full(self, address: str) -> bool:
        total, per_client = self.caps.total, self.caps.per_client
        return bool(total and self.open >= total) or bool(
            per_client and self.by_client[address] >= per_client
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        logger.info(
            "refused a websocket from %s: %d open in all, %d from that address",
            address,
            self.open,
            self.by_client[address],
        )
        message = await receive()
        if message.get("type") != "websocket.connect":
            return
        # Clients fail a handshake that picks none of their subprotocols: echo the first.
        offered = scope.get("subprotocols") or []
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        code, reason = TOO_MANY_CONNECTIONS
        await send({"type": "websocket.close", "code": code, "reason": reason})
