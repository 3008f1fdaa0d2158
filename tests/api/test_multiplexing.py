"""Several operations on one websocket, as every mainstream client sends them: each
gets only its own task's events, whoever else shares the socket or the tasks' worker.

Raw frames on both subprotocols here; the ecosystem's own clients do the same in
tests/clients/test_ecosystem.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.scenarios import assert_well_ordered, generation
from tests.client import GET, PROGRESS, SUBMIT, Api
from tests.stack import ALICE_KEY, BOB_KEY, Stack
from tests.wsclient import PROTOCOLS, session

pytestmark = pytest.mark.parametrize("protocol", PROTOCOLS)
TRIES = 40


def _tasks(messages: list[dict[str, Any]], data: str) -> list[dict[str, Any]]:
    return [m["payload"]["data"]["taskProgress"] for m in messages if m["type"] == data]


def test_two_subscriptions_on_one_socket_each_get_only_their_own_task(
    api: Api, stack: Stack, protocol: str
) -> None:
    # One worker: while the first task runs (and publishes), the second waits QUEUED.
    first = api.submit(generation("first of two", steps=6))
    second = api.submit(generation("second of two", steps=6))

    async def run() -> dict[str, list[dict]]:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init(ALICE_KEY)
            await ws.subscribe("1", PROGRESS, id=first["id"])
            await ws.subscribe("2", PROGRESS, id=second["id"])
            return await ws.until_done({"1", "2"}, timeout=120)

    seen = asyncio.run(run())
    data = "data" if protocol == "graphql-ws" else "next"
    for op, task in (("1", first), ("2", second)):
        events = _tasks(seen[op], data)
        assert {e["id"] for e in events} == {task["id"]}, (op, [e["id"] for e in events])
        assert_well_ordered(events)
        assert events[-1]["status"] == "SUCCEEDED", events[-1]
        assert seen[op][-1]["type"] == "complete"


def test_a_refused_subscription_lets_no_event_of_the_other_owner_in(
    api: Api, bob: Api, stack: Stack, protocol: str
) -> None:
    # Bob's task runs first; alice's waits QUEUED behind it, her subscription open,
    # while she tries bob's task again and again: each try joins and leaves its group.
    theirs = bob.submit(generation("bob's private", size=256, steps=60, previews=True))
    mine = api.submit(generation("alice's own", steps=4))

    async def run() -> tuple[dict[str, list[dict]], list[dict]]:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init(ALICE_KEY)
            await ws.subscribe("mine", PROGRESS, id=mine["id"])

            async def keep_trying() -> None:
                for attempt in range(TRIES):  # well under the socket's message rate
                    await ws.subscribe(f"bobs-{attempt}", PROGRESS, id=theirs["id"])
                    await asyncio.sleep(0.1)

            trying = asyncio.create_task(keep_trying())
            seen: dict[str, list[dict]] = {"mine": []}
            while not any(m["type"] == "complete" for m in seen["mine"]):
                message = await ws.receive(timeout=120)
                seen.setdefault(message["id"], []).append(message)
            await trying
            refusals = [
                m for op, ms in seen.items() if op != "mine" for m in ms if m["type"] != "complete"
            ]
            return seen, refusals

    seen, refusals = asyncio.run(run())
    assert refusals, "alice's tries were not answered before her task ended"
    for refusal in refusals:
        assert [e["extensions"]["code"] for e in ws_errors(refusal)] == ["NOT_FOUND"], refusal
    data = "data" if protocol == "graphql-ws" else "next"
    events = _tasks(seen["mine"], data)
    assert {e["id"] for e in events} == {mine["id"]}, [e["id"] for e in events]
    assert events[-1]["status"] == "SUCCEEDED"
    # Nothing but refusals names bob's task: not an event, not a preview link.
    assert all(theirs["id"] not in str(m) for m in seen["mine"])


def ws_errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The GraphQL errors a refusal carries, in whichever frame the protocol uses."""
    payload = message["payload"]
    if message["type"] == "error":
        return payload if isinstance(payload, list) else [payload]
    return payload["errors"]


def test_queries_and_mutations_run_over_the_socket(stack: Stack, protocol: str) -> None:
    async def run() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init(BOB_KEY)
            await ws.subscribe("submit", SUBMIT, input=generation("over the socket"))
            submitted = await ws.until_done({"submit"}, timeout=120)
            task_id = submitted["submit"][0]["payload"]["data"]["submitTask"]["id"]
            await ws.subscribe("get", GET, id=task_id)
            await ws.subscribe("follow", PROGRESS, id=task_id)
            return submitted, await ws.until_done({"get", "follow"}, timeout=120)

    submitted, seen = asyncio.run(run())
    data = "data" if protocol == "graphql-ws" else "next"
    [reply, done] = submitted["submit"]
    assert reply["type"] == data and not reply["payload"].get("errors"), reply
    assert done["type"] == "complete"
    task = reply["payload"]["data"]["submitTask"]
    [got, done] = seen["get"]
    assert got["type"] == data and got["payload"]["data"]["task"]["id"] == task["id"], got
    assert done["type"] == "complete"
    assert _tasks(seen["follow"], data)[-1]["status"] == "SUCCEEDED"
