"""taskProgress over real websockets: snapshot first, every change in order, then completion."""

from __future__ import annotations

import asyncio

import pytest
from gql.transport.exceptions import TransportQueryError

from tests import wsclient
from tests.api.scenarios import (
    assert_well_ordered,
    finish,
    follow_from_queued,
    generation,
    held_generation,
    is_terminal,
    worker_held,
)
from tests.client import Api
from tests.stack import Stack

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def not_found_code(api: Api, task_id: str) -> str:
    with pytest.raises(TransportQueryError) as raised:
        asyncio.run(api.events(task_id, timeout=20))
    errors = raised.value.errors
    assert errors and len(errors) == 1, errors
    return errors[0]["extensions"]["code"]


def test_events_are_ordered_and_end_with_one_terminal_event_then_completion(api: Api) -> None:
    with worker_held(api) as holder:
        task = api.submit(generation("ordered events", steps=6, previews=True))
        # Returns only once the server completes the subscription.
        [events] = asyncio.run(follow_from_queued(api, task["id"], holder["id"]))
    assert_well_ordered(events)
    assert events[0]["status"] == "QUEUED" and events[0]["sequence"] == task["sequence"]
    assert [e["status"] for e in events[1:]].count("QUEUED") == 0
    assert events[-1]["status"] == "SUCCEEDED", events[-1]["error"]
    assert events[-1]["progress"] == 1.0
    assert all(e["id"] == task["id"] for e in events)
    steps = [e["step"] for e in events if e["stage"] == "denoising"]
    assert steps == sorted(steps) and steps[-6:] == [1, 2, 3, 4, 5, 6], steps
    assert any(e["preview"] for e in events)


def test_subscriber_joining_mid_run_gets_the_running_snapshot_then_the_end(
    api: Api, stack: Stack
) -> None:
    task = api.submit(held_generation("joined mid-run", size=64, steps=12))
    seen = api.wait_for(task["id"], lambda t: is_terminal(t) or (t["step"] or 0) >= 1, timeout=60)
    assert seen["status"] == "RUNNING", seen

    async def joined() -> list[dict]:
        events = []
        async for event in api.follow(task["id"]):
            events.append(event)
            if len(events) == 1:  # in, while it is held: now let it run
                stack.release(task["id"])
        return events

    events = asyncio.run(asyncio.wait_for(joined(), 60))
    assert_well_ordered(events)
    first = events[0]
    assert first["status"] == "RUNNING" and first["startedAt"] is not None
    assert first["sequence"] >= seen["sequence"]
    assert first["step"] >= seen["step"]
    assert events[-1]["status"] == "SUCCEEDED", events[-1]["error"]
    assert len(events) > 1


def test_subscriber_joining_after_the_end_gets_exactly_the_final_state(api: Api) -> None:
    task = api.submit(generation("joined late"))
    done = api.wait_for(task["id"], is_terminal, timeout=60)
    assert done["status"] == "SUCCEEDED", done["error"]
    events = asyncio.run(api.events(task["id"], timeout=20))
    assert len(events) == 1, [(e["status"], e["sequence"]) for e in events]
    assert events[0]["status"] == "SUCCEEDED"
    assert events[0]["sequence"] == done["sequence"]
    assert events[0]["result"] == done["result"]


def test_two_subscribers_from_before_the_start_receive_identical_sequences(api: Api) -> None:
    with worker_held(api) as holder:
        task = api.submit(generation("watched twice", steps=4))
        first, second = asyncio.run(
            follow_from_queued(api, task["id"], holder["id"], subscribers=2)
        )
    assert first == second
    assert_well_ordered(first)
    assert first[0]["status"] == "QUEUED" and first[0]["queuePosition"] == 1
    assert "RUNNING" in [e["status"] for e in first]
    assert first[-1]["status"] == "SUCCEEDED", first[-1]["error"]


def test_legacy_graphql_ws_protocol_streams_the_same_events(api: Api) -> None:
    task = api.submit(generation("over graphql-ws", steps=3))
    events = asyncio.run(api.events(task["id"], timeout=60, protocol="graphql-ws"))
    assert_well_ordered(events)
    assert events[0]["sequence"] >= task["sequence"]
    assert events[-1]["status"] == "SUCCEEDED", events[-1]["error"]


def test_subscribing_to_an_unknown_task_is_not_found(api: Api) -> None:
    assert not_found_code(api, UNKNOWN_ID) == "NOT_FOUND"
    assert not_found_code(api, "not-even-a-uuid") == "NOT_FOUND"


def test_subscribing_to_someone_elses_task_is_not_found(api: Api, bob: Api) -> None:
    task = api.submit(generation("alice's own"))
    try:
        assert not_found_code(bob, task["id"]) == "NOT_FOUND"
    finally:
        finish(api, task["id"])


async def _close_code(url: str, protocol: str, payload: object) -> int | None:
    async with wsclient.session(url, protocol) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        return await ws.close_code(timeout=5)  # None: still open


@pytest.mark.parametrize(
    "payload",
    [{"Authorization": "Bearer not-a-key"}, {"Authorization": "not-bearer"}, {}],
    ids=["wrong-key", "no-bearer", "no-key"],
)
def test_websocket_without_a_valid_key_is_refused_with_4403(stack: Stack, payload: dict) -> None:
    code = asyncio.run(_close_code(stack.ws_url, wsclient.TRANSPORT_WS, payload))
    assert code == 4403


def test_legacy_websocket_without_a_valid_key_gets_an_error_and_is_closed(stack: Stack) -> None:
    async def scenario() -> tuple[dict, int | None]:
        async with wsclient.session(stack.ws_url, wsclient.LEGACY_WS) as ws:
            await ws.send(ws.frames.init("nope"))
            reply = await ws.receive(timeout=5)
            return reply, await ws.close_code(timeout=5)  # None: left open

    reply, code = asyncio.run(scenario())
    assert reply["type"] == "connection_error", reply
    assert code is not None, "the server did not close the refused connection"
