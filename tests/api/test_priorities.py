"""Priorities, fair share and batch submission on a live stack (daphne, one Dramatiq
worker, Redis): the order tasks start in is the order the queue shows, whoever sent
them and however many."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.scenarios import generation, graphql_error, is_terminal, worker_held
from tests.client import TASK_FIELDS, Api
from tests.mytasks import my_tasks
from tests.stack import OPS_KEY, Stack

SUBMIT = (
    TASK_FIELDS
    + """
mutation Submit($input: SubmitTaskInput!, $priority: TaskPriority!) {
  submitTask(input: $input, priority: $priority) { ...TaskFields priority }
}"""
)
BATCH = (
    TASK_FIELDS
    + """
mutation Batch($inputs: [SubmitTaskInput!]!, $key: String, $priority: TaskPriority! = NORMAL) {
  submitTasks(inputs: $inputs, idempotencyKey: $key, priority: $priority) {
    ...TaskFields priority
  }
}"""
)
POSITION = "query P($id: ID!) { task(id: $id) { status queuePosition startedAt } }"


def submit(api: Api, prompt: str, priority: str = "NORMAL") -> dict[str, Any]:
    task: dict[str, Any] = api.data(SUBMIT, input=generation(prompt), priority=priority)[
        "submitTask"
    ]
    assert task["priority"] == priority
    return task


def position(api: Api, task_id: str) -> int | None:
    return api.data(POSITION, id=task_id)["task"]["queuePosition"]  # type: ignore[no-any-return]


def test_high_first_then_callers_in_turn_then_low(api: Api, bob: Api, stack: Stack) -> None:
    ops = Api(stack.http_url, stack.ws_url, key=OPS_KEY)
    with worker_held(api):
        alice = [(api, submit(api, f"alice {i}")) for i in range(4)]
        low = (api, submit(api, "alice, whenever", "LOW"))
        bobs = [(bob, submit(bob, f"bob {i}")) for i in range(2)]
        urgent = (ops, submit(ops, "ops, now", "HIGH"))

        # HIGH first; then alice and bob take turns (bob came after alice's four);
        # LOW last. Each caller reads its own tasks' positions.
        expected = [urgent, alice[0], bobs[0], alice[1], bobs[1], alice[2], alice[3], low]
        shown = [position(caller, task["id"]) for caller, task in expected]
        assert shown == list(range(1, len(expected) + 1))

    finals = [caller.wait_for(task["id"], is_terminal, timeout=120) for caller, task in expected]
    assert [t["status"] for t in finals] == ["SUCCEEDED"] * len(expected)
    starts = [t["startedAt"] for t in finals]
    assert starts == sorted(starts), "tasks did not start in the order the queue showed"


def test_high_priority_is_for_the_keys_allowed_it(api: Api) -> None:
    error = graphql_error(api.execute(SUBMIT, input=generation("me first"), priority="HIGH"))
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["field"] == "priority"


def test_a_batch_comes_back_in_order_and_its_key_returns_the_same_tasks(api: Api) -> None:
    inputs = [generation(f"batch {i}") for i in range(3)]
    with worker_held(api):
        tasks = api.data(BATCH, inputs=inputs, key="gallery-7")["submitTasks"]
        again = api.data(BATCH, inputs=inputs, key="gallery-7")["submitTasks"]
        assert [t["id"] for t in again] == [t["id"] for t in tasks]
        assert [position(api, t["id"]) for t in tasks] == [1, 2, 3]
    finals = [api.wait_for(t["id"], is_terminal, timeout=120) for t in tasks]
    assert [t["status"] for t in finals] == ["SUCCEEDED"] * 3


def test_a_batch_with_one_bad_input_names_it_and_queues_nothing(api: Api) -> None:
    before = api.data("{ tasks(limit: 100) { id } }")["tasks"]
    inputs = [generation("fine"), generation("fine too"), generation("too wide", size=100_000)]

    error = graphql_error(api.execute(BATCH, inputs=inputs))

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "inputs.2.imageGeneration.width"
    assert api.data("{ tasks(limit: 100) { id } }")["tasks"] == before


def test_a_batch_over_the_configured_size_is_refused_on_inputs(api: Api) -> None:
    error = graphql_error(api.execute(BATCH, inputs=[generation("x")] * 101))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "inputs"


ESTIMATES = """
query E($id: ID!) { task(id: $id) { status estimatedStartAt estimatedFinishAt } }
"""


def test_estimates_follow_the_queue_once_a_task_of_the_kind_has_run(api: Api) -> None:
    ran = api.submit(generation("a measurement"))
    assert api.wait_for(ran["id"], is_terminal, timeout=120)["status"] == "SUCCEEDED"
    with worker_held(api) as holder:
        waiting = [api.submit(generation(f"waiting {i}")) for i in range(2)]
        first, second = (api.data(ESTIMATES, id=t["id"])["task"] for t in waiting)
        running = api.data(ESTIMATES, id=holder["id"])["task"]

        assert running["estimatedStartAt"] is None and running["estimatedFinishAt"]
        assert first["estimatedStartAt"] < first["estimatedFinishAt"]
        assert first["estimatedFinishAt"] <= second["estimatedStartAt"]
        assert second["estimatedStartAt"] < second["estimatedFinishAt"]
    done = api.wait_for(waiting[1]["id"], is_terminal, timeout=120)
    assert done["status"] == "SUCCEEDED"
    ended = api.data(ESTIMATES, id=done["id"])["task"]
    assert ended["estimatedStartAt"] is None and ended["estimatedFinishAt"] is None


def test_a_waiting_subscriber_hears_its_position_move(api: Api) -> None:
    async def follow_while_the_queue_drains(ahead: list[str], task_id: str) -> list[dict]:
        seen: list[dict[str, Any]] = []
        async for event in api.follow(task_id):
            seen.append(event)
            if event["queuePosition"] == 1:
                return seen
            api.cancel(ahead.pop(0))  # one task fewer ahead of it
        return seen

    with worker_held(api):
        ahead = [api.submit(generation(f"ahead {i}"))["id"] for i in range(2)]
        mine = api.submit(generation("behind them"))
        events = asyncio.run(
            asyncio.wait_for(follow_while_the_queue_drains(ahead, mine["id"]), timeout=60)
        )
    api.wait_for(mine["id"], is_terminal, timeout=120)

    assert [e["queuePosition"] for e in events] == [3, 2, 1]
    assert [e["status"] for e in events] == ["QUEUED"] * 3
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(set(sequences)), "each position is a new event"


def test_my_tasks_tells_each_waiting_task_its_new_position(api: Api) -> None:
    async def watch_while_the_queue_drains(ahead: list[str], last: str) -> list[int]:
        positions: list[int] = []
        async for task in my_tasks(api, statuses=["QUEUED"]):
            if task["id"] != last:
                continue
            positions.append(task["queuePosition"])
            if task["queuePosition"] == 1:
                return positions
            await asyncio.to_thread(api.cancel, ahead.pop(0))
        return positions

    with worker_held(api):
        ahead = [api.submit(generation(f"ahead {i}"))["id"] for i in range(2)]
        last = api.submit(generation("last"))["id"]
        positions = asyncio.run(
            asyncio.wait_for(watch_while_the_queue_drains(ahead, last), timeout=60)
        )
    api.wait_for(last, is_terminal, timeout=120)

    assert positions == [3, 2, 1]
