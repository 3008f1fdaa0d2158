"""JSON text of outgoing websocket messages, each event's payload encoded once.

Subscribers whose request is the same receive the very same result data for an
event (graph/sharedevents.py); only the operation id differs between their `next`
messages. The data's JSON is kept, by identity, for the others to reuse.
"""

from __future__ import annotations

import json

from actors.memo import ByIdentity

_encoded: ByIdentity[object, str] = ByIdentity(4096)


def encode_message(message: object) -> str:
    if isinstance(message, dict) and message.get("type") == "next":
        payload = message.get("payload")
        if isinstance(payload, dict) and payload.keys() == {"data"}:
            operation, data = _dumps(message.get("id")), _encoded(payload["data"], _dumps)
            return f'{{"id":{operation},"type":"next","payload":{{"data":{data}}}}}'
    return _dumps(message)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
