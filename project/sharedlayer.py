"""The channel layer, decoding each message once for all the channels it reaches.

channels_redis's pub/sub layer hands one message (bytes) to every channel of a
group in this process, and each channel's receive decoded it again: with twenty
subscribers to a task, twenty decodes of every event. The decoded message is kept
by the identity of its bytes, so the others get it as it is (no one alters it).
"""

from __future__ import annotations

from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer

from actors.memo import ByIdentity


class SharedDecodingLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: ByIdentity[bytes, Any] = ByIdentity(1024)

    def deserialize(self, message: bytes) -> Any:
        return self._decoded(message, super().deserialize)
