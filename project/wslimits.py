"""What one websocket connection may do: initialise in time, run a bounded number
of operations at once, and send messages at a bounded rate.

Both subprotocols get the same limits, each answered the way its protocol allows:

- No `connection_init` within `init_timeout`: closed with 4408 ("Connection
  initialisation timeout"). graphql-transport-ws defines that code; legacy
  graphql-ws defines none, and gets the same one.
- An operation over `max_subscriptions` concurrent ones (subscriptions, and
  queries or mutations sent over the socket while they run): an `error`
  message for that operation id only, with `extensions.code` `RATE_LIMITED`
  (`reason` `SUBSCRIPTION_LIMIT`, `limit`). The connection and its running
  operations carry on; once one completes, a new one may start.
- More client messages than the token bucket allows (`messages_per_second`,
  up to `burst` at once): closed with 4429 ("Too many requests"), and nothing
  sent after that is read. Daphne sends close codes without their reasons.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    StartMessage,
)

from project.config import Config
from project.refusals import subscription_limit_reached

INIT_TIMEOUT = (4408, "Connection initialisation timeout")
TOO_MANY_REQUESTS = (4429, "Too many requests")


@dataclass(frozen=True, slots=True)
class WebsocketLimits:
    init_timeout: float = 5.0  # seconds
    max_subscriptions: int = 20
    messages_per_second: float = 20.0
    burst: int = 40

    @classmethod
    def from_config(cls, config: Config) -> WebsocketLimits:
        return cls(
            init_timeout=config.ws_init_timeout,
            max_subscriptions=config.ws_max_subscriptions,
            messages_per_second=config.ws_max_messages_per_second,
            burst=config.ws_message_burst,
        )

    def message_bucket(self) -> TokenBucket:
        return TokenBucket(rate=self.messages_per_second, burst=self.burst)


@dataclass(slots=True)
class TokenBucket:
    """`burst` tokens to start with, refilled at `rate` a second; one per message."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with the operation limit reported as `RATE_LIMITED`.

    The connection_init timeout (4408) is strawberry's own.
    """

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            error = subscription_limit_reached(limit)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws with the operation limit reported as `RATE_LIMITED`, and an
    init timeout (strawberry has none for this protocol)."""

    _init_received = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with suppress(asyncio.CancelledError):
                await timer

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self._init_received:
            code, reason = INIT_TIMEOUT
            await self.websocket.close(code=code, reason=reason)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self._init_received = True
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            limit is not None
            and self.connection_acknowledged
            and message["id"] not in self.tasks
            and len(self.tasks) >= limit
        ):
            error = subscription_limit_reached(limit)
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": error.formatted}
            )
            return
        await super().handle_start(message)
