"""Whether a websocket client is taking what is sent to it, as daphne's socket sees it.

Daphne writes each frame into Twisted's transport, which buffers without bound
when the client stops reading: one such client grew a web node by hundreds of
megabytes. Twisted tells a registered streaming producer when its buffer passes its
high-water mark (`pauseProducing`) and when it has drained (`resumeProducing`):
`SendWindow` is that producer, and senders hold frames back while it is paused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class SendWindow:
    """Twisted's `IPushProducer`, standing for one connection's sender."""

    def __init__(self, resumed: Callable[[], None]) -> None:
        self.paused = False
        self._resumed = resumed

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._resumed()

    def stopProducing(self) -> None:
        self.paused = True  # the connection is gone: nothing more goes out


def watch(send: Any, resumed: Callable[[], None]) -> SendWindow | None:
    """A `SendWindow` on the connection behind an ASGI `send` callable, or None where
    the server is not daphne (a test harness, another server): frames then go
    straight out, as before.

    Daphne hands each application `partial(server.handle_reply, protocol)`. The
    websocket was upgraded from an HTTP connection whose channel is still registered
    as the transport's producer, pausing reads when writes back up; this takes its
    place, so a client's frames are still read while its sends are held back.
    """
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)
    if transport is None or not hasattr(transport, "registerProducer"):
        return None
    window = SendWindow(resumed)
    if getattr(transport, "producer", None) is not None:
        transport.unregisterProducer()
    transport.registerProducer(window, True)
    return window
