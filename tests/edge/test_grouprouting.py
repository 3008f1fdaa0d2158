"""Listeners sharing one consumer's channel each get only their own groups' messages,
through the web's real channel layer on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from actors.events import GROUP_FIELD, TaskChanged
from project.edge.fanout import SharedDecodingLayer
from project.edge.grouprouting import GroupRouting


class _Socket(GroupRouting):
    """A consumer as far as listening goes: one channel, its messages dispatched."""

    def __init__(self, layer: Any, channel: str) -> None:
        super().__init__()
        self.channel_layer = layer
        self.channel_name = channel


QUIET = 0.05  # seconds


def _event(group: str | None, n: int) -> dict[str, Any]:
    message: dict[str, Any] = {"type": TaskChanged.TYPE, "n": n}
    if group is not None:
        message[GROUP_FIELD] = group
    return message


async def _deliver(layer: Any, socket: _Socket, group: str, message: dict[str, Any]) -> None:
    """Send to `group` until the socket's channel has it (subscribing is not
    acknowledged), then dispatch what arrived, as a consumer's receive loop does."""
    arrived = asyncio.ensure_future(layer.receive(socket.channel_name))
    while not arrived.done():
        await layer.group_send(group, message)
        await asyncio.wait({arrived}, timeout=0.05)
    await socket.dispatch(arrived.result())
    while not layer.channels[socket.channel_name].empty():  # what the retries sent more
        await socket.dispatch(await layer.receive(socket.channel_name))


async def _drain(messages: Any) -> list[int]:
    """What is already queued for a listener: dispatching queues synchronously, and
    the listener's iterator ends once its queue has been empty for `QUIET`."""
    return [message["n"] async for message in messages]


def test_each_listener_on_one_channel_gets_only_its_groups_messages(redis_url: str) -> None:
    async def main() -> dict[str, list[int]]:
        layer = SharedDecodingLayer(hosts=[redis_url], prefix=f"test-{uuid.uuid4().hex}")
        socket = _Socket(layer, await layer.new_channel())
        try:
            async with (
                socket.listen_to_channel(TaskChanged.TYPE, timeout=QUIET, groups=["task.a"]) as a,
                socket.listen_to_channel(TaskChanged.TYPE, timeout=QUIET, groups=["task.b"]) as b,
                socket.listen_to_channel(
                    TaskChanged.TYPE, timeout=QUIET, groups=["task.a"]
                ) as again,
                socket.listen_to_channel(TaskChanged.TYPE, timeout=QUIET) as direct,
            ):
                await _deliver(layer, socket, "task.a", _event("task.a", 1))
                await _deliver(layer, socket, "task.b", _event("task.b", 2))
                # A message naming no group is for the channel's own listeners only.
                await layer.send(socket.channel_name, _event(None, 3))
                await socket.dispatch(await layer.receive(socket.channel_name))
                return {
                    "a": await _drain(a),
                    "b": await _drain(b),
                    "a_again": await _drain(again),
                    "direct": await _drain(direct),
                }
        finally:
            await layer.flush()

    got = asyncio.run(asyncio.wait_for(main(), 20))
    assert got["a"] and set(got["a"]) == {1}, got
    assert got["a_again"] == got["a"], got
    assert got["b"] and set(got["b"]) == {2}, got
    assert got["direct"] == [3], got


def test_leaving_the_last_listener_of_a_group_leaves_the_group(redis_url: str) -> None:
    async def main() -> tuple[set[str], set[str], set[str]]:
        layer = SharedDecodingLayer(hosts=[redis_url], prefix=f"test-{uuid.uuid4().hex}")
        socket = _Socket(layer, await layer.new_channel())
        try:
            async with socket.listen_to_channel(TaskChanged.TYPE, groups=["task.a"]):
                async with socket.listen_to_channel(TaskChanged.TYPE, groups=["task.a"]):
                    pass
                still = set(socket._group_refs)
            after = set(socket._group_refs)
            return still, after, {route[1] or "" for route in socket._routes}
        finally:
            await layer.flush()

    still, after, routes = asyncio.run(asyncio.wait_for(main(), 20))
    assert still == {"task.a"} and after == set() and routes == set()
