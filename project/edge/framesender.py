"""One websocket's outgoing frames: straight out while the client keeps up, held back
and coalesced (`project.edge.outbox`) while its socket backs up (`project.edge.backpressure`),
and the socket closed with `SLOW_CLIENT` when what waits passes the limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from project.edge import backpressure
from project.edge.outbox import SLOW_CLIENT, Outbox
from project.metrics import SLOW_CLOSES, SUPERSEDED

logger = logging.getLogger("atelier.transport")


class FrameSender:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        max_buffered: int,
    ) -> None:
        self._send = send
        self._close = close
        self._max_buffered = max_buffered
        self._outbox = Outbox()
        self._window: backpressure.SendWindow | None = None
        self._flushing: asyncio.Future[None] | None = None
        self._stopped = False

    def watch(self, asgi_send: Any) -> None:
        """Follow the connection behind the server's `send` (daphne's; elsewhere every
        frame goes straight out)."""
        self._window = backpressure.watch(asgi_send, self._flush_soon)

    async def send(self, message: dict[str, Any], text: str, client: object) -> None:
        """Send a protocol frame (`text`, the encoded `message`) or hold it back."""
        if self._stopped:
            return
        if self._window is None or not (self._window.paused or self._outbox):
            await self._send(text)
            return
        if self._outbox.put(message.get("type"), message.get("id"), text, _subject(message)):
            SUPERSEDED.inc()
        if self._outbox.bytes <= self._max_buffered:
            return
        SLOW_CLOSES.inc()
        logger.info(
            "closed a websocket from %s: %d bytes waiting for a client that is not reading",
            client,
            self._outbox.bytes,
        )
        self.stop()
        code, reason = SLOW_CLIENT
        await self._close(code, reason)

    def stop(self) -> None:
        """The connection is closing or gone: drop what waits, send nothing more."""
        self._stopped = True
        self._outbox.clear()

    def _flush_soon(self) -> None:
        if self._outbox and self._flushing is None and not self._stopped:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._outbox and self._window is not None and not self._window.paused:
                await self._send(self._outbox.take())
        finally:
            self._flushing = None


def _subject(message: dict[str, Any]) -> str | None:
    """What a result is about, for an operation that streams several things (`myTasks`):
    the `id` its one root object selected; None when it selected none."""
    payload = message.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict) and len(data) == 1:
        root = next(iter(data.values()))
        if isinstance(root, dict):
            subject = root.get("id")
            return subject if isinstance(subject, str) else None
    return None
