"""How a consumer's subscriptions join task groups: routed per listener, counted,
and open while Redis is out.

The websocket consumer (`project.edge.consumers.WSConsumer`) and the SSE consumer
(`project.edge.sse`) both give their subscriptions this `listen`: each listener gets
only its own groups' events (`project.edge.grouprouting`), is counted in the
`atelier_subscriptions` gauge while it listens, and a group it failed to join (Redis
out) leaves no membership behind. The consumer's channel falls back to an in-process
one while Redis is out (`project.edge.outagelayer`), so a request still gets
SERVICE_UNAVAILABLE rather than a failed connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from actors.store.outage import OUTAGES
from project.edge.grouprouting import GroupRouting
from project.edge.outagelayer import OutageTolerantLayer
from project.metrics import SUBSCRIPTIONS

Listening = AbstractAsyncContextManager[AsyncIterable[dict[str, Any]]]


class GroupListening(GroupRouting):
    """`GroupRouting`, counted and outage-tolerant; `listen` is the job system's
    `Listen` for this consumer."""

    @property  # type: ignore[override]
    def channel_layer(self) -> Any:
        return getattr(self, "_layer", None)

    @channel_layer.setter
    def channel_layer(self, layer: Any) -> None:
        self._layer = OutageTolerantLayer(layer) if layer is not None else None

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncIterator[Any]:
        try:
            async with super().listen_to_channel(type, timeout=timeout, groups=groups) as messages:
                with SUBSCRIPTIONS.track_inprogress():
                    yield messages
        except OUTAGES:
            # The layer notes a member before subscribing on Redis; this drops the note
            # (the group has no Redis subscription to undo).
            for group in groups:
                if group not in self._group_refs and self.channel_layer is not None:
                    with contextlib.suppress(Exception):
                        await self.channel_layer.group_discard(group, self.channel_name)
            raise

    def listen(self, message_type: str, group: str) -> Listening:
        return cast(Listening, self.listen_to_channel(message_type, groups=[group]))
