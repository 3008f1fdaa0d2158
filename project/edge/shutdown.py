"""Closing every GraphQL websocket with 1001 (Going Away) when a web node shuts down.

graphql-ws clients reconnect on 1001 (to another node) and subscribe again,
getting the task's snapshot first; without it they would see the connection
drop. Consumers `track` themselves while open; under daphne,
`install_before_shutdown_trigger` has the Twisted reactor close them all, and
wait for the close handshakes, before daphne cancels the applications.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import weakref
from typing import Any, Protocol

from project import services

logger = logging.getLogger("atelier.transport")

GOING_AWAY = 1001
GOING_AWAY_REASON = "server shutting down"
CLOSE_TIMEOUT = 2.0  # seconds to wait for clients to answer the close


class Closable(Protocol):
    def going_away(self) -> Any:
        """Close with 1001 now and send nothing more; what to wait on, or None
        (see `send_going_away`)."""


_live: weakref.WeakSet[Closable] = weakref.WeakSet()


def track(consumer: Closable) -> None:
    _live.add(consumer)


def forget(consumer: Closable) -> None:
    _live.discard(consumer)


def _daphne_protocol(send: Any) -> Any:
    """The websocket protocol object behind an ASGI `send` from daphne, else None.

    Daphne passes each application `functools.partial(server.handle_reply, protocol)`;
    the protocol (autobahn's) can send any close code, where the ASGI message can
    carry only 1000 and 3000-4999.
    """
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        if callable(getattr(protocol, "sendCloseFrame", None)) and hasattr(protocol, "STATE_OPEN"):
            return protocol
    return None


def send_going_away(send: Any) -> Any:
    """Close the websocket behind an ASGI `send` with 1001; what to wait on, or None.

    Under daphne that is its protocol object, once it has sent the close frame
    (None if the socket was not accepted yet, or is already closing); under
    another server, the future sending the ASGI close.
    """
    protocol = _daphne_protocol(send)
    if protocol is None:  # another ASGI server: it may send 1001 itself
        close = {"type": "websocket.close", "code": GOING_AWAY, "reason": GOING_AWAY_REASON}
        return asyncio.ensure_future(send(close))
    if protocol.state != protocol.STATE_OPEN:
        return None
    protocol.sendCloseFrame(code=GOING_AWAY, reasonUtf8=GOING_AWAY_REASON.encode(), isReply=False)
    return protocol


def close_all_going_away() -> list[Any]:
    """Close every tracked websocket with 1001 (Going Away), now.

    Returns what to pass to `wait_closed`. Synchronous on purpose: it must run
    before daphne cancels the applications, in the same shutdown trigger phase.
    """
    closing = []
    for consumer in list(_live):
        try:
            protocol = consumer.going_away()
        except Exception:
            logger.exception("could not close a websocket with %d", GOING_AWAY)
            continue
        if protocol is not None:
            closing.append(protocol)
    return closing


def _finished_closing(closing: Any) -> bool:
    """Whether a daphne protocol is closed, or another server's close was sent."""
    if isinstance(closing, asyncio.Future):
        return closing.done()
    return bool(closing.state == closing.STATE_CLOSED)


async def wait_closed(closing: list[Any], timeout: float) -> None:
    """Until every client has answered the close (autobahn drops a silent one after
    its one-second close handshake timeout), or `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not all(_finished_closing(each) for each in closing):
        await asyncio.sleep(0.02)


def install_before_shutdown_trigger() -> None:
    """Register, with daphne's Twisted reactor, closing the websockets with 1001.

    Daphne's own "before shutdown" trigger (registered later, when it starts)
    cancels every application at once; this one runs first and sends the close
    frames, and the reactor goes on to stop only once the returned Deferred fires,
    so the frames go out. Outside daphne (no reactor installed) nothing is done:
    importing the reactor here would install Twisted's default one.
    """
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return
    from twisted.internet.defer import Deferred

    def going_away() -> Deferred[None]:
        services.begin_shutdown()
        closing = close_all_going_away()
        logger.info("shutting down: closing %d websocket(s) with 1001 (going away)", len(closing))
        return Deferred.fromFuture(asyncio.ensure_future(wait_closed(closing, CLOSE_TIMEOUT)))

    reactor.addSystemEventTrigger("before", "shutdown", going_away)
