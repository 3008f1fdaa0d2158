"""The operators' view live and their cancel on a real stack: `operationsUpdates` over
graphql-transport-ws (the gql client) sends an admin the view at once and again as a
held task runs and ends; `cancelAnyTask` cancels any caller's task for an admin and
is FORBIDDEN to others; `recentFailures` and `throughput` count what ended, by minute.
How often updates may go out is pinned on a controlled clock
(tests/graph/test_ops_updates_throttle.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from PIL import Image

from tests.api.scenarios import graphql_error, held_generation, is_terminal, when
from tests.client import TASK_FIELDS, Api, image_b64
from tests.stack import OPS_KEY, Stack
from tests.stepgate import HOLD_AT

UPDATES = """
subscription Ops {
  operationsUpdates {
    queues { name queuedTasks }
    runningTasks { id owner step totalSteps progress cancelRequested }
    workers { id currentTask { id } lastSeenAt }
    recentFailures { code kind count }
    throughput { minute succeeded failed cancelled }
  }
}
"""
CANCEL_ANY = TASK_FIELDS + "mutation C($id: ID!) { cancelAnyTask(id: $id) { ...TaskFields } }"
RECENT = """
query Recent($minutes: Int! = 15) {
  operations {
    recentFailures(minutes: $minutes) { code reason kind count }
    throughput(minutes: $minutes) { minute succeeded failed cancelled }
  }
}
"""

View = dict[str, Any]


@pytest.fixture
def ops(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url, key=OPS_KEY)


async def updates(api: Api) -> AsyncGenerator[View, None]:
    async with Client(transport=api.transport()) as client:
        async for event in client.subscribe(gql(UPDATES)):
            yield event["operationsUpdates"]


async def first_view(views: AsyncIterator[View], holds: Callable[[View], bool]) -> View:
    """The first view of which `holds` is true; fails after a generous minute."""

    async def find() -> View:
        async for view in views:
            if holds(view):
                return view
        raise AssertionError("operationsUpdates completed")

    return await asyncio.wait_for(find(), timeout=60)


def running(view: View, task_id: str) -> dict[str, Any] | None:
    return next((t for t in view["runningTasks"] if t["id"] == task_id), None)


def cancel_any(api: Api, task_id: str) -> dict[str, Any]:
    return api.execute(CANCEL_ANY, id=task_id)


def held_task(api: Api, prompt: str) -> dict[str, Any]:
    """A task of `api`'s caller RUNNING, held at its step HOLD_AT."""
    task = api.submit(held_generation(prompt))
    held = api.wait_for(task["id"], lambda t: t["step"] == HOLD_AT or is_terminal(t), timeout=60)
    assert held["status"] == "RUNNING", held
    return held


def test_an_operator_gets_the_view_at_once_then_each_change_of_a_running_task(
    api: Api, ops: Api
) -> None:
    async def scenario() -> None:
        views = updates(ops)
        try:
            now = await first_view(views, lambda v: True)
            assert {"queues", "runningTasks", "workers"} <= now.keys()
            assert len(now["throughput"]) == 15

            task = await asyncio.to_thread(api.submit, held_generation("watched by ops"))
            seen = await first_view(
                views, lambda v: (running(v, task["id"]) or {}).get("step") == HOLD_AT
            )
            shown = running(seen, task["id"])
            assert shown is not None and shown["owner"] == "alice", seen
            assert 0 < shown["progress"] < 1 and shown["totalSteps"] > HOLD_AT, shown
            [worker] = seen["workers"]
            assert worker["currentTask"] == {"id": task["id"]}, seen

            await asyncio.to_thread(cancel_any, ops, task["id"])
            await first_view(
                views,
                lambda v: (
                    running(v, task["id"]) is None
                    and all(w["currentTask"] != {"id": task["id"]} for w in v["workers"])
                ),
            )
        finally:
            await views.aclose()
        ended = await asyncio.to_thread(api.wait_for, task["id"], is_terminal)
        assert ended["status"] == "CANCELLED", ended

    asyncio.run(scenario())


def test_operations_updates_is_forbidden_to_a_caller_without_an_admin_key(bob: Api) -> None:
    async def subscribe() -> None:
        async for _ in updates(bob):
            raise AssertionError("bob got the operators' view")

    with pytest.raises(TransportQueryError) as refused:
        asyncio.run(asyncio.wait_for(subscribe(), timeout=60))
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN", refused.value.errors


def test_an_operator_cancels_another_callers_running_task(api: Api, ops: Api) -> None:
    task = held_task(api, "cancelled by an operator")
    try:
        answer = cancel_any(ops, task["id"])
        assert "errors" not in answer, answer
        assert answer["data"]["cancelAnyTask"]["id"] == task["id"]
    finally:
        api.cancel(task["id"])  # a no-op once cancelled; frees the worker if the test failed
    ended = api.wait_for(task["id"], is_terminal, timeout=60)
    assert ended["status"] == "CANCELLED" and ended["error"]["code"] == "CANCELLED", ended


def test_a_caller_without_an_admin_key_cannot_cancel_another_callers_task(
    api: Api, bob: Api
) -> None:
    task = held_task(api, "not bob's to cancel")
    try:
        refused = graphql_error(cancel_any(bob, task["id"]))
        assert refused["extensions"] == {"code": "FORBIDDEN"}, refused
        as_owner = bob.execute(CANCEL_ANY.replace("cancelAnyTask", "cancelTask"), id=task["id"])
        assert graphql_error(as_owner)["extensions"]["code"] == "NOT_FOUND"
        still = api.get(task["id"])
        assert still is not None and still["status"] == "RUNNING", still
        assert still["cancelRequested"] is False, still
    finally:
        api.cancel(task["id"])
        api.wait_for(task["id"], is_terminal, timeout=60)


def test_cancel_any_task_of_an_unknown_id_is_not_found(ops: Api) -> None:
    for task_id in ("00000000-0000-4000-8000-000000000000", "not-a-task"):
        assert graphql_error(cancel_any(ops, task_id))["extensions"]["code"] == "NOT_FOUND"


def test_a_failure_shows_by_code_and_counts_in_its_minute(api: Api, ops: Api) -> None:
    blank = image_b64(Image.new("RGB", (64, 64), "gray"))
    task = api.submit({"faceSwap": {"sourceImage": blank, "targetImage": blank}})
    ended = api.wait_for(task["id"], is_terminal, timeout=120)
    assert ended["status"] == "FAILED" and ended["error"]["code"] == "NO_FACE_FOUND", ended
    assert ended["error"]["reason"] == "NO_FACE_FOUND", ended

    recent = ops.data(RECENT)["operations"]
    assert ("NO_FACE_FOUND", "NO_FACE_FOUND", "FACE_SWAP") in [
        (f["code"], f["reason"], f["kind"]) for f in recent["recentFailures"]
    ], recent
    minutes = [when(row["minute"]) for row in recent["throughput"]]
    assert len(minutes) == 15
    steps = [b - a for a, b in itertools.pairwise(minutes)]  # type: ignore[operator]
    assert steps == [timedelta(minutes=1)] * 14, minutes
    finished = when(ended["finishedAt"])
    assert finished is not None
    its_minute = finished.replace(second=0, microsecond=0).astimezone(UTC)
    [row] = [r for r in recent["throughput"] if when(r["minute"]) == its_minute]
    assert row["failed"] >= 1, recent
    # The current minute last (read before now, so it may have just passed).
    assert minutes[-1] <= datetime.now(UTC) < minutes[-1] + timedelta(minutes=2)  # type: ignore[operator]


@pytest.mark.parametrize("minutes", [0, 61])
def test_minutes_out_of_bounds_are_bad_user_input(ops: Api, minutes: int) -> None:
    error = graphql_error(ops.execute(RECENT, minutes=minutes))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "minutes"}, error
