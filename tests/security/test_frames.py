"""Malformed client frames on both websocket subprotocols: closed with 4400, never a
socket left open with its handler dead (subscriptions starved, pings unanswered)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.security.hostile import OUTCOMES, RawApi, long_generation
from tests.stack import ALICE_KEY, Stack
from tests.wsclient import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, session

PROGRESS = "subscription ($id: ID!) { taskProgress(id: $id) { id status } }"


def _subscribe(protocol: str, **changes: object) -> str:
    frame: dict[str, object] = {
        "type": "start" if protocol == LEGACY_WS else "subscribe",
        "id": "9",
        "payload": {"query": "{ tasks { id } }"},
    }
    frame.update(changes)
    return json.dumps(frame)


MALFORMED = {
    "an-array": lambda p: "[]",
    "an-array-of-a-frame": lambda p: json.dumps([{"type": "ping"}]),
    "a-number": lambda p: "12",
    "a-string": lambda p: '"subscribe"',
    "null": lambda p: "null",
    "true": lambda p: "true",
    "type-a-number": lambda p: json.dumps({"type": 5}),
    "type-missing": lambda p: json.dumps({"id": "1"}),
    "payload-a-string": lambda p: _subscribe(p, payload="{ tasks { id } }"),
    "payload-missing": lambda p: _subscribe(p, payload=None),
    "query-a-number": lambda p: _subscribe(p, payload={"query": 5}),
    "variables-a-list": lambda p: _subscribe(p, payload={"query": "{ x }", "variables": [1]}),
    "operation-name-a-number": lambda p: _subscribe(
        p, payload={"query": "{ x }", "operationName": 3}
    ),
    "id-a-number": lambda p: _subscribe(p, id=7),
    "id-an-object": lambda p: _subscribe(p, id={"a": 1}),
    "id-empty": lambda p: _subscribe(p, id=""),
    "id-huge": lambda p: _subscribe(p, id="i" * 10_000),
    "stop-without-id": lambda p: json.dumps({"type": "stop" if p == LEGACY_WS else "complete"}),
    "ping-payload-a-list": lambda p: json.dumps({"type": "ping", "payload": [1]}),
}


# Legacy graphql-ws has no ping: it ignores a frame of a type it does not know.
CASES = [
    pytest.param(protocol, make(protocol), id=f"{protocol}-{name}")
    for protocol in PROTOCOLS
    for name, make in MALFORMED.items()
    if not (protocol == LEGACY_WS and name.startswith("ping"))
]


@pytest.mark.parametrize(("protocol", "text"), CASES)
def test_a_malformed_frame_closes_the_socket_with_4400(
    alice: RawApi, hostile_stack: Stack, protocol: str, text: str
) -> None:
    async def run() -> int | None:
        async with session(hostile_stack.ws_url, protocol) as ws:
            await ws.init(ALICE_KEY)
            await ws.ws.send(text)
            return await ws.close_code(timeout=5)

    code = asyncio.run(run())
    assert code == 4400, code
    OUTCOMES[f"ws close {code}"] += 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_malformed_frame_beside_a_live_subscription_closes_rather_than_starves_it(
    alice: RawApi, hostile_stack: Stack, protocol: str
) -> None:
    task = alice.data(
        "mutation ($input: SubmitTaskInput!) { submitTask(input: $input) { id } }",
        {"input": long_generation()},
    )["submitTask"]
    try:

        async def run() -> int | None:
            async with session(hostile_stack.ws_url, protocol) as ws:
                await ws.init(ALICE_KEY)
                await ws.subscribe("1", PROGRESS, id=task["id"])
                first = await ws.receive()
                assert first["id"] == "1", first
                await ws.ws.send("null")
                return await ws.close_code(timeout=5)

        assert asyncio.run(run()) == 4400
    finally:
        alice.cancel(task["id"])
        alice.wait_for_end(task["id"])


def test_after_malformed_frames_a_new_socket_still_pings_and_subscribes(
    alice: RawApi, hostile_stack: Stack
) -> None:
    async def run() -> dict[str, object]:
        async with session(hostile_stack.ws_url, TRANSPORT_WS) as ws:
            await ws.init(ALICE_KEY)
            await ws.send({"type": "ping"})
            pong = await ws.receive()
            assert pong["type"] == "pong", pong
            await ws.subscribe("1", "{ tasks(limit: 1) { id } }")
            return await ws.receive()

    reply = asyncio.run(run())
    assert reply["type"] == "next" and "errors" not in reply["payload"], reply
