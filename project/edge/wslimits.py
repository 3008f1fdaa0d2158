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
- A client that stops reading: what it has not taken waits coalesced (an
  operation's newer result replaces its older one, see `project.edge.outbox`); past
  `max_buffered_bytes` of that, closed with 4413 ("Client too slow").
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.ratelimits import TokenBucket
from project.config import Config

INIT_TIMEOUT = (4408, "Connection initialisation timeout")
TOO_MANY_REQUESTS = (4429, "Too many requests")


@dataclass(frozen=True, slots=True)
class WebsocketLimits:
    init_timeout: float = 5.0  # seconds
    max_subscriptions: int = 20
    messages_per_second: float = 20.0
    burst: int = 40
    # Frames held back, after coalescing, from a client that stopped reading.
    max_buffered_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Config) -> WebsocketLimits:
        return cls(
            init_timeout=config.ws_init_timeout,
            max_subscriptions=config.ws_max_subscriptions,
            messages_per_second=config.ws_max_messages_per_second,
            burst=config.ws_message_burst,
            max_buffered_bytes=config.ws_max_buffered_bytes,
        )

    def message_bucket(self) -> TokenBucket:
        return TokenBucket(rate=self.messages_per_second, burst=self.burst)
