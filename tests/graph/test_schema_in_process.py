"""The schema of a web node in process: submit, read, follow and cancel over one
multiplexed graphql-transport-ws socket, two owners interleaved, on a real Redis."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from tests.graph.conftest import ALICE, BOB
from tests.wsclient import TRANSPORT_WS, Session, in_process

TASK = "fragment T on Task { id kind status stage progress queuePosition error { code } }"
SUBMIT = (
    "mutation Submit($prompt: String!, $width: Int! = 64) { submitTask(input: "
    "{imageGeneration: {prompt: $prompt, width: $width, height: 64, steps: 2}}) { ...T } }" + TASK
)
GET = "query Get($id: ID!) { task(id: $id) { ...T } }" + TASK
CANCEL = "mutation Cancel($id: ID!) { cancelTask(id: $id) { ...T } }" + TASK
FOLLOW = "subscription Follow($id: ID!) { taskProgress(id: $id) { ...T } }" + TASK

_ids = itertools.count(1)


def socket(consumer: Any, key: str) -> Any:
    return in_process(consumer, TRANSPORT_WS, key)


async def execute(session: Session, query: str, **variables: Any) -> dict[str, Any]:
    return await session.execute(str(next(_ids)), query, **variables)


async def start(session: Session, query: str, **variables: Any) -> str:
    operation = str(next(_ids))
    await session.subscribe(operation, query, **variables)
    return operation


def test_a_submitted_task_is_queued_and_readable_by_its_owner_only(consumer: Any) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with socket(consumer, ALICE) as alice, socket(consumer, BOB) as bob:
            submitted = (await execute(alice, SUBMIT, prompt="a fox"))["data"]["submitTask"]
            mine = await execute(alice, GET, id=submitted["id"])
            theirs = await execute(bob, GET, id=submitted["id"])
            await execute(alice, CANCEL, id=submitted["id"])
            return submitted, mine, theirs

    submitted, mine, theirs = asyncio.run(main())

    assert submitted["status"] == "QUEUED" and submitted["kind"] == "IMAGE_GENERATION"
    assert submitted["queuePosition"] >= 1
    assert mine["data"]["task"]["id"] == submitted["id"]
    assert theirs == {"data": {"task": None}}


def test_bad_input_names_its_field(consumer: Any) -> None:
    async def main() -> dict[str, Any]:
        async with socket(consumer, ALICE) as alice:
            return await execute(alice, SUBMIT, prompt="a fox", width=65)

    answer = asyncio.run(main())

    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.imageGeneration.width"


def test_a_subscription_follows_its_task_to_a_cancel_made_on_the_same_socket(
    consumer: Any,
) -> None:
    async def main() -> tuple[str, str, list[dict[str, Any]]]:
        async with socket(consumer, ALICE) as alice:
            first = (await execute(alice, SUBMIT, prompt="followed"))["data"]["submitTask"]
            other = (await execute(alice, SUBMIT, prompt="not followed"))["data"]["submitTask"]
            following = await start(alice, FOLLOW, id=first["id"])
            received = [await alice.receive()]  # the snapshot: QUEUED
            cancel = await start(alice, CANCEL, id=first["id"])
            # The cancel's answer and the subscription's events interleave; the
            # subscription ends with the terminal snapshot and `complete`.
            while received[-1] != {"id": following, "type": "complete"}:
                received.append(await alice.receive())
            while {"id": cancel, "type": "complete"} not in received:
                received.append(await alice.receive())
            await execute(alice, CANCEL, id=other["id"])
            return first["id"], following, received

    task_id, following, received = asyncio.run(main())

    events = [
        m["payload"]["data"]["taskProgress"]
        for m in received
        if m.get("id") == following and m["type"] == "next"
    ]
    assert [event["id"] for event in events] == [task_id] * len(events)
    assert events[0]["status"] == "QUEUED"
    assert events[-1]["status"] == "CANCELLED" and events[-1]["error"] == {"code": "CANCELLED"}


def test_another_owners_task_cannot_be_followed(consumer: Any) -> None:
    async def main() -> list[dict[str, Any]]:
        async with socket(consumer, ALICE) as alice, socket(consumer, BOB) as bob:
            task = (await execute(alice, SUBMIT, prompt="alice's"))["data"]["submitTask"]
            operation = await start(bob, FOLLOW, id=task["id"])
            answer = [await bob.receive(), await bob.receive()]
            await execute(alice, CANCEL, id=task["id"])
            assert {message["id"] for message in answer} == {operation}
            return answer

    found, end = asyncio.run(main())

    # Refused as it runs, like a query of an unknown task: one result, then the end.
    assert found["type"] == "next" and found["payload"]["data"] is None, found
    assert found["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert end["type"] == "complete"
