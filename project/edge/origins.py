"""Which browser origins may use the API, and the ASGI guard that enforces it.

Browsers attach an `Origin` header to websocket handshakes and to cross-site
`fetch` calls, and do not apply CORS to websockets; refusing unknown origins
keeps pages on other sites from driving the API through a user's browser.

A request is let through when it has no `Origin` (not a browser), comes from
the origin it is addressed to (the Host header, as GraphiQL served here does),
or from an origin in `ATELIER_ALLOWED_ORIGINS`; `*` there lets any origin in.
Everything else gets 403: a refused websocket handshake, or for HTTP a
GraphQL-shaped error with code `FORBIDDEN`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from strawberry.http.websocket_origin import (
    is_same_origin,
    normalize_allowed_origins,
    normalize_origin,
)

from project.edge.refusals import ASGIApp, Forbidden, Receive, Scope, Send, header, send_error

logger = logging.getLogger("atelier.transport")


class OriginPolicy:
    """The allowed origins, normalised as browsers send them (`https://host[:port]`)."""

    def __init__(self, allowed: Iterable[str]) -> None:
        try:
            self.allowed = normalize_allowed_origins(tuple(allowed))
        except ValueError as error:
            raise ValueError(f"ATELIER_ALLOWED_ORIGINS: {error}") from None

    def allows(self, scope: Scope) -> bool:
        origin = header(scope, b"origin")
        if origin is None or "*" in self.allowed:
            return True
        if header(scope, b"sec-fetch-site") == "same-origin":
            return True
        if is_same_origin(origin, header(scope, b"host")):
            return True
        return normalize_origin(origin) in self.allowed


class OriginGuard:
    """Wraps an HTTP or websocket application; refuses requests `policy` does not allow."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.policy.allows(scope):
            await self.app(scope, receive, send)
            return
        logger.warning(
            "refused a %s request to %s from origin %r (not in ATELIER_ALLOWED_ORIGINS)",
            scope["type"],
            scope.get("path"),
            header(scope, b"origin"),
        )
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            # Closing before accepting makes the server answer the handshake with 403.
            await send({"type": "websocket.close"})
        else:
            await send_error(send, 403, Forbidden("requests from this origin are not allowed"))
