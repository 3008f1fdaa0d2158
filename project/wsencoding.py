"""JSON text of outgoing websocket messages, each event's payload encoded once.

Subscribers whose request is the same receive the very same result data for an
event (graph/sharedevents.py); only the operation id differs between their `next`
messages. The data's JSON is kept, by identity, for the others to reuse.
"""

from __future__ import annotations

import json
from collections import OrderedDict

_KEPT = 4096
# id(data) -> (data, its JSON): holding the data keeps its id from being reused.
_encoded: OrderedDict[int, tuple[object, str]] = OrderedDict()


def encode_message(message: object) -> str:
    if isinstance(message, dict) and message.get("type") == "next":
        payload = message.get("payload")
        if isinstance(payload, dict) and payload.keys() == {"data"}:
            operation, data = _dumps(message.get("id")), _data_json(payload["data"])
            return f'{{"id":{operation},"type":"next","payload":{{"data":{data}}}}}'
    return _dumps(message)


def _data_json(data: object) -> str:
    entry = _encoded.get(id(data))
    if entry is None or entry[0] is not data:
        entry = _encoded[id(data)] = (data, _dumps(data))
        if len(_encoded) > _KEPT:
            _encoded.popitem(last=False)
    return entry[1]


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
