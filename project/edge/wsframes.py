"""The shape of a client's websocket frame, checked before a protocol handler reads it.

Strawberry's handlers index into each decoded frame as if it were the right shape: a
JSON array, number, string or null (or a `subscribe` whose payload is a string)
raised out of the handler, which then stopped reading while the socket stayed open,
its subscriptions starved and its pings unanswered. A frame that fails here is
answered by closing with 4400 (graphql-transport-ws's "bad request"; the legacy
protocol defines no code and gets the same), naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_ID_CHARS = 128  # clients send counters or UUIDs

_OPTIONAL_OBJECT = (dict, type(None))
_OPTIONAL_TEXT = (str, type(None))

# Per frame type: must it carry an operation id, and does its payload hold a document?
_TRANSPORT_FRAMES = {
    "connection_init": (False, False),
    "ping": (False, False),
    "pong": (False, False),
    "subscribe": (True, True),
    "complete": (True, False),
}
_LEGACY_FRAMES = {
    "connection_init": (False, False),
    "connection_terminate": (False, False),
    "start": (True, True),
    "stop": (True, False),
}


def transport_frame_problem(frame: object) -> str | None:
    """What is wrong with a graphql-transport-ws client frame, or None.

    An unknown `type` is left to the handler (it closes with 4400 itself)."""
    return _problem(frame, _TRANSPORT_FRAMES)


def legacy_frame_problem(frame: object) -> str | None:
    """What is wrong with a legacy graphql-ws client frame, or None.

    Unknown types pass: the protocol ignores them."""
    return _problem(frame, _LEGACY_FRAMES)


def _problem(frame: object, frames: Mapping[str, tuple[bool, bool]]) -> str | None:
    if not isinstance(frame, dict):
        return "a message must be a JSON object"
    kind = frame.get("type")
    if not isinstance(kind, str):
        return "a message needs a string 'type'"
    if kind not in frames:
        return None
    needs_id, holds_document = frames[kind]
    if needs_id:
        op_id = frame.get("id")
        if not isinstance(op_id, str) or not 0 < len(op_id) <= MAX_ID_CHARS:
            return f"'{kind}' needs an 'id' of 1 to {MAX_ID_CHARS} characters"
    payload = frame.get("payload")
    if holds_document:
        return _document_problem(kind, payload)
    if not isinstance(payload, _OPTIONAL_OBJECT):
        return f"the payload of '{kind}' must be an object"
    return None


def _document_problem(kind: str, payload: object) -> str | None:
    if not isinstance(payload, dict):
        return f"'{kind}' needs a payload object"
    if not isinstance(payload.get("query"), str):
        return f"the payload of '{kind}' needs a string 'query'"
    if not isinstance(payload.get("variables"), _OPTIONAL_OBJECT):
        return "'variables' must be an object"
    if not isinstance(payload.get("operationName"), _OPTIONAL_TEXT):
        return "'operationName' must be a string"
    if not isinstance(payload.get("extensions"), _OPTIONAL_OBJECT):
        return "'extensions' must be an object"
    return None
