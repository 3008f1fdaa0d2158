"""Outgoing websocket messages: a shared payload's JSON reused, every message exact."""

from __future__ import annotations

import json

import pytest

from project.edge import fanout
from project.edge.fanout import encode_message


def test_next_messages_sharing_one_payload_differ_only_by_their_id() -> None:
    data = {"taskProgress": {"id": "t1", "status": "RUNNING", "step": 3, "note": 'say "hi" ü'}}
    first = {"id": "1", "type": "next", "payload": {"data": data}}
    second = {"id": 'op "2"', "type": "next", "payload": {"data": data}}

    encoded = [encode_message(first), encode_message(second)]

    assert [json.loads(text) for text in encoded] == [first, second]
    assert encoded[0] == json.dumps(first, separators=(",", ":"))


def test_a_payload_is_encoded_once_however_many_subscribers_receive_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[object] = []
    real = fanout._dumps

    def counting(value: object) -> str:
        encoded.append(value)
        return real(value)

    monkeypatch.setattr(fanout, "_dumps", counting)
    data = {"taskProgress": {"id": "t2", "sequence": 7}}
    for operation in range(20):
        encode_message({"id": str(operation), "type": "next", "payload": {"data": data}})

    assert sum(value is data for value in encoded) == 1


def test_other_messages_are_encoded_as_they_are() -> None:
    with_errors = {
        "id": "1",
        "type": "next",
        "payload": {"data": None, "errors": [{"message": "no", "extensions": {"code": "X"}}]},
    }
    for message in (with_errors, {"type": "pong"}, {"id": "1", "type": "complete"}):
        assert encode_message(message) == json.dumps(message, separators=(",", ":"))
