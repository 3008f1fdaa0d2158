"""The channel layer, decoding each message once for all the channels it reaches.

channels_redis's pub/sub layer hands one message (bytes) to every channel of a
group in this process, and each channel's receive decoded it again: with twenty
subscribers to a task, twenty decodes of every event. The decoded message is kept
by the identity of its bytes, so the others get it as it is (no one alters it).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer

_KEPT = 1024


class SharedDecodingLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(bytes) -> (bytes, decoded): holding the bytes keeps the id from being reused.
        self._decoded: OrderedDict[int, tuple[bytes, Any]] = OrderedDict()

    def deserialize(self, message: bytes) -> Any:
        entry = self._decoded.get(id(message))
        if entry is None or entry[0] is not message:
            entry = self._decoded[id(message)] = (message, super().deserialize(message))
            if len(self._decoded) > _KEPT:
                self._decoded.popitem(last=False)
        return entry[1]
