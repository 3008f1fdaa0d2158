"""The channel layer as our websocket consumer uses it: it lets a socket open while Redis is out.

channels gives every consumer a channel of its own before anything else, which
on the pub/sub layer is a Redis SUBSCRIBE: in an outage the websocket would fail
its handshake. Our consumers receive only group messages, which that layer
routes to a consumer in process from the group's own subscription; so, when
Redis is out, the consumer gets a channel that exists in process only, and its
subscriptions answer SERVICE_UNAVAILABLE until Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from actors.store.outage import OUTAGES

logger = logging.getLogger("atelier.transport")


class OutageTolerantLayer:
    """Wraps a channel layer; only `new_channel` differs, falling back to an
    in-process channel when Redis is out."""

    def __init__(self, layer: Any) -> None:
        self._layer = layer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)

    async def new_channel(self, prefix: str = "specific.") -> str:
        try:
            return str(await self._layer.new_channel(prefix))
        except OUTAGES:
            local = getattr(self._layer, "_get_layer", None)
            in_process = local() if local is not None else None
            if not isinstance(getattr(in_process, "channels", None), dict):
                raise
            assert in_process is not None
            name = f"{in_process.prefix}{prefix}{uuid.uuid4().hex}"
            in_process.channels[name] = asyncio.Queue()
            logger.warning("Redis unavailable: websocket channel %s is in process only", name)
            return name
