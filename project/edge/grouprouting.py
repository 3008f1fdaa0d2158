"""Channel-layer messages delivered per listener, by the group they were sent to.

Every operation on one websocket shares the consumer's channel name, so the channel
layer hands that one channel the messages of every group any of its operations
joined. Strawberry's `ChannelsConsumer` then gives each message to every listener of
its type: with two `taskProgress` operations on one socket, each got the other's
events, and an operation refused for another owner's task could leave that task's
events flowing into the caller's other operations.

Here each listener receives only messages that name one of the groups it listens
to (`GROUP_FIELD`, set by the publisher), or, listening to no group, only messages
that name none (sent to the channel itself). A message for a group that no listener
of this consumer joined is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from strawberry.channels.handlers.base import ChannelsConsumer, ChannelsMessage

from actors.events import GROUP_FIELD

_Route = tuple[str, str | None]  # (message type, group or None)


class GroupRouting(ChannelsConsumer):
    """A Channels consumer whose `listen_to_channel` listeners each get only their
    own groups' messages (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._routes: defaultdict[_Route, set[asyncio.Queue[Any]]] = defaultdict(set)
        super().__init__(*args, **kwargs)

    async def dispatch(self, message: ChannelsMessage) -> None:
        kind = message.get("type", "")
        if kind and not kind.startswith(("http.", "websocket.")):
            group = message.get(GROUP_FIELD)
            for queue in self._routes.get((kind, group if isinstance(group, str) else None), ()):
                queue.put_nowait(message)
            return
        await super().dispatch(message)

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncIterator[Any]:
        """Strawberry's contract (join `groups`, yield their messages of `type`, leave
        on exit), with delivery restricted to this listener's own groups."""
        layer = self.channel_layer
        if layer is None:
            raise RuntimeError("listening to channels needs a channel layer")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        routes: list[_Route] = [(type, group) for group in groups] or [(type, None)]
        for route in routes:
            self._routes[route].add(queue)
        joined: list[str] = []
        try:
            for group in groups:
                async with self._group_lock:
                    # Always add: a membership can expire in the layer and is renewed here.
                    await layer.group_add(group, self.channel_name)
                    self._group_refs[group] += 1
                joined.append(group)
            yield self._listen_to_channel_generator(queue, timeout)
        finally:
            for route in routes:
                listeners = self._routes.get(route)
                if listeners is not None:
                    listeners.discard(queue)
                    if not listeners:
                        del self._routes[route]
            for group in joined:
                async with self._group_lock:
                    self._group_refs[group] -= 1
                    if self._group_refs[group] > 0:
                        continue
                    del self._group_refs[group]
                    with contextlib.suppress(Exception):
                        await layer.group_discard(group, self.channel_name)
