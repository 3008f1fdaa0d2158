"""Hostile websocket clients: refused with a close code, never left hanging or crashed.

Wrong keys and another owner's task are in tests/api/test_subscriptions.py;
message rates and subscription counts belong to the transport tests.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests import wsclient
from tests.security.hostile import OUTCOMES, RawApi, assert_no_leak
from tests.stack import ALICE_KEY, Stack

OPEN = -1  # the server neither closed the socket nor answered


async def _close_code(url: str, messages: list[str | bytes], wait: float) -> int:
    """Send `messages` as they are, then read until the server closes; its close code,
    or OPEN."""
    async with wsclient.session(url, wsclient.TRANSPORT_WS) as ws:
        for message in messages:
            await ws.ws.send(message)  # type: ignore[arg-type]  # binary frames too
        try:
            while True:
                reply = await asyncio.wait_for(ws.ws.recv(), wait)
                assert_no_leak(str(reply))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else OPEN
        except TimeoutError:
            return OPEN


FRAMES = wsclient.Frames(wsclient.TRANSPORT_WS)


def _init(payload: object) -> str:
    return json.dumps({"type": "connection_init", "payload": payload})


REFUSED = {
    "payload-a-string": ([_init(f"Bearer {ALICE_KEY}")], {4400, 4403}),
    "payload-a-list": ([_init([ALICE_KEY])], {4400, 4403}),
    "authorization-a-number": ([_init({"Authorization": 12345})], {4403}),
    "authorization-an-object": ([_init({"Authorization": {"Bearer": ALICE_KEY}})], {4403}),
    "key-with-a-lone-surrogate": (
        ['{"type": "connection_init", "payload": {"Authorization": "Bearer \\ud800"}}'],
        {4403},
    ),
    "huge-key": ([_init({"Authorization": "Bearer " + "k" * 200_000})], {4403, 1009}),
    "subscribe-before-init": (
        [json.dumps(FRAMES.subscribe("1", 'subscription { taskProgress(id: "x") { id } }'))],
        {4401},
    ),
    "not-json": (["{ this is not json"], {4400}),
    "binary-frame": ([b"\x00\xff\x00"], {4400}),
    "unknown-message-type": ([json.dumps({"type": "hello"})], {4400}),
}


@pytest.mark.parametrize(("messages", "codes"), list(REFUSED.values()), ids=list(REFUSED))
def test_hostile_websocket_client_is_closed_with_a_protocol_code(
    alice: RawApi, hostile_stack: Stack, messages: list[str | bytes], codes: set[int]
) -> None:
    code = asyncio.run(_close_code(hostile_stack.ws_url, messages, wait=2))
    assert code in codes, code
    OUTCOMES[f"ws close {code}"] += 1


def test_websocket_that_never_initialises_is_closed_after_the_init_timeout(
    alice: RawApi, hostile_stack: Stack
) -> None:
    """ATELIER_WS_INIT_TIMEOUT (1 s on this stack); 4408 is the protocol's own code."""
    timeout = float(hostile_stack.env["ATELIER_WS_INIT_TIMEOUT"])
    code = asyncio.run(_close_code(hostile_stack.ws_url, [], wait=timeout + 2))
    assert code == 4408, code
    OUTCOMES[f"ws close {code}"] += 1
