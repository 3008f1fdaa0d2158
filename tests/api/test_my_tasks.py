"""myTasks over real websockets: each caller's unfinished tasks, then every change of any
of their tasks, each task's in order; never another caller's, on any socket, whatever
shares the socket.

Every scenario holds the worker with a held task of alice's (`worker_held`): its RUNNING
snapshot is how a test knows a subscription has joined, and what is submitted behind it
stays QUEUED until the test cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from tests.api.scenarios import generation, worker_held
from tests.client import GET, PROGRESS, Api
from tests.mytasks import (
    MY_TASKS,
    Events,
    Feed,
    assert_all_theirs,
    assert_each_task_in_order,
    changes,
    ended,
    has,
    my_tasks,
    submit,
)
from tests.stack import ALICE_KEY, Stack
from tests.wsclient import LEGACY_WS, PROTOCOLS, session


def test_unfinished_tasks_first_then_every_change_of_each_in_order(api: Api) -> None:
    async def scenario(holder: dict[str, Any], waiting: dict[str, Any]) -> tuple[Feed, str]:
        feed = Feed(api)
        try:
            await feed.until(
                lambda events: (
                    has(holder["id"], "RUNNING")(events) and has(waiting["id"], "QUEUED")(events)
                )
            )
            later = await submit(api, generation("submitted while subscribed", steps=3))
            await feed.until(has(later["id"], "QUEUED"))
            await asyncio.to_thread(api.cancel, holder["id"])
            await feed.until(ended(holder["id"], waiting["id"], later["id"]))
            return feed, later["id"]
        finally:
            await feed.close()

    with worker_held(api) as holder:
        waiting = api.submit(generation("queued before subscribing", steps=3))
        feed, later = asyncio.run(scenario(holder, waiting))

    assert_each_task_in_order(feed.events)
    # The snapshot: the unfinished tasks, oldest first, before any change.
    snapshot = [e["id"] for e in feed.events if e["id"] in (holder["id"], waiting["id"])][:2]
    assert snapshot == [holder["id"], waiting["id"]], snapshot
    first_of_waiting = feed.of(waiting["id"])[0]
    assert first_of_waiting["status"] == "QUEUED"
    assert first_of_waiting["sequence"] >= waiting["sequence"]
    assert feed.of(holder["id"])[-1]["status"] == "CANCELLED"
    for task_id in (waiting["id"], later):
        statuses = [e["status"] for e in feed.of(task_id)]
        assert statuses[0] == "QUEUED" and "RUNNING" in statuses, statuses
        assert statuses[-1] == "SUCCEEDED", feed.of(task_id)[-1]["error"]
        assert statuses.count("SUCCEEDED") == 1
    steps = [e["step"] for e in feed.of(later) if e["stage"] == "denoising"]
    assert steps[-3:] == [1, 2, 3], steps


def test_each_caller_on_each_of_their_sockets_gets_all_their_tasks_and_none_of_the_other(
    api: Api, bob: Api
) -> None:
    async def scenario(holder: dict[str, Any], bobs_first: dict[str, Any]) -> dict[str, Any]:
        feeds = {
            "alice-1": Feed(api),
            "alice-2": Feed(api, protocol=LEGACY_WS),
            "bob-1": Feed(bob),
            "bob-2": Feed(bob, protocol=LEGACY_WS),
        }
        try:
            for name, feed in feeds.items():
                first = holder if name.startswith("alice") else bobs_first
                await feed.until(has(first["id"], first["status"]))
            alices = await submit(api, generation("alice's later", steps=3))
            bobs = await submit(bob, generation("bob's later", steps=3))
            await asyncio.to_thread(api.cancel, holder["id"])
            ids = {"alice": [alices["id"]], "bob": [bobs_first["id"], bobs["id"]]}
            for name, feed in feeds.items():
                await feed.until(ended(*ids[name.split("-")[0]]))
            return {"feeds": feeds, **ids}
        finally:
            for feed in feeds.values():
                await feed.close()

    with worker_held(api) as holder:
        bobs_first = bob.submit(generation("bob's queued", steps=3))
        seen = asyncio.run(scenario(holder, bobs_first))

    feeds: dict[str, Feed] = seen["feeds"]
    for name, feed in feeds.items():
        owner, other = (api, bob) if name.startswith("alice") else (bob, api)
        assert_all_theirs(feed.events, owner, other)
        assert_each_task_in_order(feed.events)
    for owner in ("alice", "bob"):
        first, second = (feeds[f"{owner}-{n}"] for n in (1, 2))
        for task_id in seen[owner]:
            assert first.of(task_id)[-1]["status"] == "SUCCEEDED", first.of(task_id)[-1]
            assert second.of(task_id)[-1]["status"] == "SUCCEEDED", second.of(task_id)[-1]
        # Both sockets joined before the task was submitted: the same changes, from its
        # creation (queuePosition is each subscriber's own reading, so left out).
        later = seen[owner][-1]
        assert changes(first.of(later)) == changes(second.of(later)), later
        assert first.of(later)[0]["status"] == "QUEUED"


def test_statuses_filter_the_changes_and_keep_each_tasks_order(api: Api) -> None:
    async def scenario(holder: dict[str, Any]) -> tuple[Feed, Feed, str]:
        ends = Feed(api, statuses=["RUNNING", "SUCCEEDED"])
        everything = Feed(api)
        try:
            for feed in (ends, everything):
                await feed.until(has(holder["id"], "RUNNING"))
            task = await submit(api, generation("filtered", steps=4))
            await everything.until(has(task["id"], "QUEUED"))
            await asyncio.to_thread(api.cancel, holder["id"])
            await ends.until(has(task["id"], "SUCCEEDED"))
            await everything.until(ended(holder["id"], task["id"]))
            return ends, everything, task["id"]
        finally:
            await ends.close()
            await everything.close()

    with worker_held(api) as holder:
        ends, everything, task_id = asyncio.run(scenario(holder))

    assert {e["status"] for e in ends.events} <= {"RUNNING", "SUCCEEDED"}, ends.events
    # Its cancel request, a change while RUNNING, passes; its CANCELLED does not.
    assert {e["status"] for e in ends.of(holder["id"])} == {"RUNNING"}
    assert_each_task_in_order(ends.events)
    unfiltered = [e for e in everything.of(task_id) if e["status"] in ("RUNNING", "SUCCEEDED")]
    assert ends.of(task_id) == unfiltered


def test_an_empty_statuses_list_is_bad_user_input(api: Api) -> None:
    async def first() -> None:
        async for _ in my_tasks(api, statuses=[]):
            break

    with pytest.raises(TransportQueryError) as raised:
        asyncio.run(asyncio.wait_for(first(), 30))
    [error] = raised.value.errors or []
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "statuses"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_my_tasks_beside_other_operations_on_one_socket(
    api: Api, bob: Api, stack: Stack, protocol: str
) -> None:
    """myTasks twice (one filtered), taskProgress of one task, a query, and a refused
    taskProgress of bob's task: each operation gets only what it asked for."""

    async def scenario(
        holder: dict[str, Any], mine: dict[str, Any], bobs: dict[str, Any]
    ) -> dict[str, Events]:
        seen: dict[str, Events] = {}
        async with session(stack.ws_url, protocol) as ws:
            data = ws.frames.data

            async def until(done: Callable[[], bool]) -> None:
                while not done():
                    message = await ws.receive(timeout=60)
                    seen.setdefault(message["id"], []).append(message)

            def finished(op: str) -> bool:
                return any(m["type"] in ("complete", "error") for m in seen.get(op, []))

            def tasks(op: str) -> Events:
                return [
                    next(iter(m["payload"]["data"].values()))
                    for m in seen.get(op, [])
                    if m["type"] == data
                ]

            await ws.init(ALICE_KEY)
            await ws.subscribe("all", MY_TASKS, statuses=None)
            await until(lambda: has(mine["id"], "QUEUED")(tasks("all")))
            await ws.subscribe("ends", MY_TASKS, statuses=["RUNNING", "SUCCEEDED"])
            await until(lambda: has(holder["id"], "RUNNING")(tasks("ends")))
            await ws.subscribe("one", PROGRESS, id=mine["id"])
            await until(lambda: bool(tasks("one")))
            await ws.subscribe("bobs", PROGRESS, id=bobs["id"])
            await ws.subscribe("get", GET, id=mine["id"])
            await until(lambda: finished("bobs") and finished("get"))
            await asyncio.to_thread(api.cancel, holder["id"])
            await until(
                lambda: (
                    ended(mine["id"])(tasks("ends"))
                    and ended(mine["id"])(tasks("all"))
                    and seen["one"][-1]["type"] == "complete"
                )
            )
            frames = [m for ms in seen.values() for m in ms]
            return {op: tasks(op) for op in ("all", "ends", "one", "get")} | {"frames": frames}

    with worker_held(api) as holder:
        # Bob's runs first once the holder goes, while alice's socket is open.
        bobs = bob.submit(generation("bob's, beside alice's socket", steps=4, previews=True))
        mine = api.submit(generation("alice's, on a shared socket", steps=3))
        seen = asyncio.run(asyncio.wait_for(scenario(holder, mine, bobs), 180))

    assert all(bobs["id"] not in str(m) for m in seen["frames"] if m.get("id") != "bobs")
    [refusal] = [m for m in seen["frames"] if m.get("id") == "bobs" and m["type"] != "complete"]
    assert "NOT_FOUND" in str(refusal), refusal
    assert {e["id"] for e in seen["one"]} == {mine["id"]}
    assert seen["one"][-1]["status"] == "SUCCEEDED"
    assert [e["id"] for e in seen["get"]] == [mine["id"]]
    assert_each_task_in_order(seen["all"])
    assert_each_task_in_order(seen["ends"])
    assert_all_theirs(seen["all"], api, bob)
    assert {e["status"] for e in seen["ends"]} <= {"RUNNING", "SUCCEEDED"}
    # The task's own subscription and myTasks saw the same changes from its start.
    ones = [e["sequence"] for e in seen["one"]]
    alls = [e["sequence"] for e in seen["all"] if e["id"] == mine["id"]]
    assert alls[-len(ones) :] == ones or ones[-len(alls) :] == alls, (ones, alls)
