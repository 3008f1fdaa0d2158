"""The web's channel layer decodes a group message once for all its channels, on a
real Redis."""

from __future__ import annotations

import asyncio
import uuid

from project.edge.fanout import SharedDecodingLayer


def test_channels_of_a_group_receive_one_decoded_message(redis_url: str) -> None:
    async def main() -> list[dict[str, object]]:
        layer = SharedDecodingLayer(hosts=[redis_url], prefix=f"test-{uuid.uuid4().hex}")
        try:
            channels = [await layer.new_channel() for _ in range(3)]
            for channel in channels:
                await layer.group_add("task.shared", channel)
            sent = [{"type": "task.event", "task": {"id": "t", "seq": str(n)}} for n in (1, 2)]
            received: list[dict[str, object]] = []
            for message in sent:
                # Subscribing is not acknowledged: send until the first channel hears it.
                first = asyncio.ensure_future(layer.receive(channels[0]))
                while not first.done():
                    await layer.group_send("task.shared", message)
                    await asyncio.wait({first}, timeout=0.05)
                received.append(first.result())
                received += [await layer.receive(channel) for channel in channels[1:]]
                for channel in channels:  # what the retries above sent more
                    while not layer.channels[channel].empty():
                        layer.channels[channel].get_nowait()
            return received
        finally:
            await layer.flush()

    received = asyncio.run(asyncio.wait_for(main(), 20))

    first_three, last_three = received[:3], received[3:]
    assert first_three[0] == {"type": "task.event", "task": {"id": "t", "seq": "1"}}
    assert all(message is first_three[0] for message in first_three)
    assert last_three[0]["task"] == {"id": "t", "seq": "2"}
    assert all(message is last_three[0] for message in last_three)
