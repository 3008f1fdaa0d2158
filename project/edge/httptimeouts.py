"""How long daphne waits on an HTTP client that sends nothing, or its headers slowly.

Twisted's HTTP channel has only an idle timeout, reset by every byte, so a client
trickling a header line every few seconds (slowloris) held its connection forever:
500 such connections were all still open after 45 s. Here each request's headers
must be complete within `header_timeout` seconds of the connection, or of the end of
the previous response on a kept-alive connection; else the client gets a 408 and the
connection is closed. A connection upgraded to a websocket has sent its headers, and
is left to the websocket's own limits.

Daphne builds its channels through its `HTTPFactory`; `install` wraps that factory's
`buildProtocol` once per process (the command line has no such option). The wrapper
also has Twisted leave form bodies to the application (`project.edge.uploads`).
"""

from __future__ import annotations

import logging
from typing import Any

from project.edge import uploads

logger = logging.getLogger("atelier.transport")

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def install(header_timeout: float, idle_timeout: float) -> None:
    """Hold every HTTP connection daphne accepts from now on to these timeouts
    (seconds; 0 turns one off)."""
    from daphne.http_protocol import HTTPFactory

    build = getattr(HTTPFactory.buildProtocol, "__wrapped__", HTTPFactory.buildProtocol)

    def buildProtocol(factory: Any, addr: Any) -> Any:
        protocol = build(factory, addr)
        protocol.requestFactory = uploads.unparsed_form_request
        protocol.timeOut = idle_timeout or None
        if header_timeout:
            _HeaderDeadline(getattr(protocol, "_channel", protocol), header_timeout)
        return protocol

    buildProtocol.__wrapped__ = build  # type: ignore[attr-defined]
    HTTPFactory.buildProtocol = buildProtocol


class _HeaderDeadline:
    """One channel's deadline for a complete set of request headers."""

    def __init__(self, channel: Any, seconds: float) -> None:
        from twisted.internet import reactor

        self._reactor: Any = reactor
        self._channel = channel
        self._seconds = seconds
        self._call: Any = None
        headers_received = channel.allHeadersReceived
        request_done = channel.requestDone
        connection_lost = channel.connectionLost

        def allHeadersReceived() -> None:
            self._cancel()
            headers_received()

        def requestDone(request: Any) -> None:
            # Armed first: a pipelined request parsed inside requestDone cancels it.
            self._arm()
            request_done(request)

        def connectionLost(reason: Any) -> None:
            self._cancel()
            connection_lost(reason)

        channel.allHeadersReceived = allHeadersReceived
        channel.requestDone = requestDone
        channel.connectionLost = connectionLost
        self._arm()

    def _arm(self) -> None:
        self._cancel()
        self._call = self._reactor.callLater(self._seconds, self._expire)

    def _cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _expire(self) -> None:
        self._call = None
        transport = self._channel.transport
        if transport is None:
            return
        logger.info(
            "closed an HTTP connection from %s: no complete request headers within %g s",
            getattr(transport.getPeer(), "host", "?"),
            self._seconds,
        )
        transport.write(_TIMED_OUT)
        transport.loseConnection()
