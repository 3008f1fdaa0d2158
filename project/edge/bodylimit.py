"""ASGI middleware that refuses HTTP request bodies over a size limit with 413.

A declared `Content-Length` over the limit is refused before any of the body is
read. A body without one (chunked) is counted as it arrives: once it passes the
limit the client gets 413 and the application an `http.disconnect`, so it never
holds more than the limit.

Daphne (Twisted underneath) spools the whole request before the application
sees any of it; this bounds what the application buffers and decodes, not what
daphne accepts. A reverse proxy's limit (nginx `client_max_body_size`) stops
an oversized body before it reaches daphne.

Once a large request has been answered, the memory it freed is handed back to the
system (`project.edge.allocator`).
"""

from __future__ import annotations

import logging

from project.edge.allocator import LARGE, after_large_requests
from project.edge.refusals import (
    ASGIApp,
    Message,
    PayloadTooLarge,
    Receive,
    Scope,
    Send,
    header,
    send_error,
)

logger = logging.getLogger("atelier.transport")


def _declared_length(scope: Scope) -> int | None:
    text = header(scope, b"content-length")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


class BodyLimit:
    """Wraps an HTTP application; `max_bytes` is the largest body it lets through."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.refuse(scope, send)
            return
        await _Request(self, scope, receive, send).run()

    async def refuse(self, scope: Scope, send: Send) -> None:
        logger.info(
            "refused %s %s: request body over %d bytes",
            scope.get("method"),
            scope.get("path"),
            self.max_bytes,
        )
        await send_error(send, 413, PayloadTooLarge(self.max_bytes))


class _Request:
    """One request's byte count, between the server and the application."""

    def __init__(self, limit: BodyLimit, scope: Scope, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.scope = scope
        self._receive = receive
        self._send = send
        self.received = 0
        self.refused = False
        self.response_started = False

    async def run(self) -> None:
        try:
            await self.limit.app(self.scope, self.receive, self.send)
        finally:
            if self.received > LARGE:
                after_large_requests.note()

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received <= self.limit.max_bytes:
            return message
        self.refused = True
        if not self.response_started:
            await self.limit.refuse(self.scope, self.send_unguarded)
        # The application stops as if the client had gone; it already answered.
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        await self.send_unguarded(message)

    async def send_unguarded(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)
