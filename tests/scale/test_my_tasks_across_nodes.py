"""myTasks across web nodes: tasks submitted through node A reach their owner's myTasks
on nodes B and C, from their creation to their end, the same on both; the other
caller's on B gets none of them."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.scenarios import generation, held_generation
from tests.client import Api
from tests.mytasks import (
    Feed,
    assert_all_theirs,
    assert_each_task_in_order,
    changes,
    ended,
    has,
    submit,
)
from tests.scale.nodes import Nodes
from tests.stack import BOB_KEY


def test_tasks_submitted_on_a_reach_their_owners_my_tasks_on_b_and_c_only(
    three_nodes: Nodes,
) -> None:
    stack, a, b, c = three_nodes.stack, three_nodes.a, three_nodes.b, three_nodes.c
    bob_on_a, bob_on_b = (Api(api.http_url, api.ws_url, key=BOB_KEY) for api in (a, b))

    async def scenario() -> dict[str, Any]:
        # The one worker is held on alice's first task: what follows waits QUEUED,
        # and each subscription's snapshot shows it has joined.
        holder = await submit(a, held_generation("holds the worker", size=64, steps=8))
        bobs = await submit(bob_on_a, generation("bob's, queued", steps=2))
        feeds = {"alice-b": Feed(b), "alice-c": Feed(c), "bob-b": Feed(bob_on_b)}
        try:
            for name, feed in feeds.items():
                first = bobs if name.startswith("bob") else holder
                await feed.until(lambda events, first=first: mentions(events, first["id"]))
            task = await submit(a, generation("submitted on A", steps=3))
            await feeds["alice-b"].until(has(task["id"], "QUEUED"))
            stack.release(holder["id"])
            ids = {"alice": [holder["id"], task["id"]], "bob": [bobs["id"]]}
            for name, feed in feeds.items():
                await feed.until(ended(*ids[name.split("-")[0]]))
            return {"feeds": feeds, **ids}
        finally:
            for feed in feeds.values():
                await feed.close()

    seen = asyncio.run(asyncio.wait_for(scenario(), 120))
    feeds: dict[str, Feed] = seen["feeds"]
    assert_all_theirs(feeds["alice-b"].events, a, bob_on_a)
    assert_all_theirs(feeds["alice-c"].events, a, bob_on_a)
    assert_all_theirs(feeds["bob-b"].events, bob_on_a, a)

    holder, task = seen["alice"]
    [bobs] = seen["bob"]
    on_b, on_c = feeds["alice-b"], feeds["alice-c"]
    for feed in (on_b, on_c):
        assert {e["id"] for e in feed.events} == {holder, task}
        assert_each_task_in_order(feed.events)
        assert feed.of(task)[0]["status"] == "QUEUED"  # its creation, announced by A
        assert feed.of(task)[-1]["status"] == "SUCCEEDED"
        assert feed.of(holder)[-1]["status"] == "SUCCEEDED"
    assert changes(on_b.of(task)) == changes(on_c.of(task))
    assert {e["id"] for e in feeds["bob-b"].events} == {bobs}
    assert feeds["bob-b"].of(bobs)[-1]["status"] == "SUCCEEDED"
    assert_each_task_in_order(feeds["bob-b"].events)


def mentions(events: list[dict[str, Any]], task_id: str) -> bool:
    return any(event["id"] == task_id for event in events)
