"""Cross-request batching on a live stack (daphne, one Dramatiq worker with
ATELIER_MAX_BATCH=4, Redis): tasks of two callers share one pipeline call in queue
order, each followed over its own subscription, one cancelled mid-batch alone, and
each image the one its seed gives alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.scenarios import (
    assert_well_ordered,
    finish,
    generation,
    held_generation,
    is_terminal,
)
from tests.client import Api
from tests.stack import BOB_KEY, OPS_KEY, Stack, running_stack
from tests.stepgate import HOLD_AT, held

STEPS = HOLD_AT + 2


@pytest.fixture(scope="module")
def stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("batching")
    with running_stack(redis_url, folder, stack_models, {"ATELIER_MAX_BATCH": "4"}) as running:
        yield running


def task_input(prompt: str, seed: int, **extra: Any) -> dict[str, Any]:
    return generation(prompt, steps=STEPS, seed=seed, **extra)


def image_of(api: Api, task: dict[str, Any]) -> bytes:
    response = api.download(task["result"]["image"]["url"])
    assert response.status_code == 200
    return response.content


WORKERS = "query { operations { workers { currentTask { id } currentTasks { id } } } }"


def announced_tasks(ops: Api, expected: set[str]) -> list[dict[str, Any]]:
    """The workers as the operators' view shows them, once one announces `expected`
    (a worker announces its tasks on a thread of its own, soon after it starts them)."""
    deadline = time.monotonic() + 60
    while True:
        workers = ops.data(WORKERS)["operations"]["workers"]
        if any({t["id"] for t in w["currentTasks"]} == expected for w in workers):
            return list(workers)
        assert time.monotonic() < deadline, workers
        time.sleep(0.05)


async def followed(api: Api, task_id: str, ready: asyncio.Event) -> list[dict[str, Any]]:
    events = []
    async for event in api.follow(task_id):
        events.append(event)
        ready.set()
    return events


def test_waiting_tasks_of_two_callers_run_as_one_batch_each_on_its_own(stack: Stack) -> None:
    alice = Api(stack.http_url, stack.ws_url)
    bob = Api(stack.http_url, stack.ws_url, key=BOB_KEY)
    holder = alice.submit(held_generation())
    alice.wait_for(holder["id"], lambda t: t["status"] == "RUNNING")

    # Queue order (fair share): A0, B0, A1, B1, A2, then a task of another size.
    a0 = alice.submit(task_input(held("alice 0"), 100))
    a1, a2 = alice.submit(task_input("alice 1", 101)), alice.submit(task_input("alice 2", 102))
    b0, b1 = bob.submit(task_input("bob 0", 200)), bob.submit(task_input("bob 1", 201))
    other = alice.submit(task_input("alice, larger", 103, size=128))
    batch = [a0, b0, a1, b1]
    assert [alice.get(t["id"])["queuePosition"] for t in (a0, a1, a2, other)] == [1, 3, 5, 6]
    assert [bob.get(t["id"])["queuePosition"] for t in (b0, b1)] == [2, 4]

    async def scenario() -> list[list[dict[str, Any]]]:
        followers = [(alice, a1), (bob, b0), (bob, b1)]
        ready = [asyncio.Event() for _ in followers]
        streams = [
            asyncio.create_task(followed(api, task["id"], event))
            for (api, task), event in zip(followers, ready, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 30)
        await asyncio.to_thread(finish, alice, holder["id"])
        # The batch holds at A0's step HOLD_AT: every member has started by then.
        await asyncio.to_thread(
            alice.wait_for, a0["id"], lambda t: t["step"] == HOLD_AT, timeout=120
        )
        running = [
            await asyncio.to_thread(api.get, t["id"])
            for api, t in zip((alice, bob, alice, bob), batch, strict=True)
        ]
        assert [t["status"] for t in running] == ["RUNNING"] * 4
        # The operators see every member of the call on the worker, the first as its task.
        ops = Api(stack.http_url, stack.ws_url, key=OPS_KEY)
        ids = {t["id"] for t in batch}
        [worker] = await asyncio.to_thread(announced_tasks, ops, ids)
        assert worker["currentTask"]["id"] in ids
        assert [alice.get(t["id"])["queuePosition"] for t in (a2, other)] == [1, 2]
        await asyncio.to_thread(bob.cancel, b1["id"])
        stack.release(a0["id"])
        return list(await asyncio.wait_for(asyncio.gather(*streams), 120))

    streams = asyncio.run(scenario())

    for events in streams:
        assert_well_ordered(events)
    a1_events, b0_events, b1_events = streams
    for events in (a1_events, b0_events):
        steps = [e["step"] for e in events if e["stage"] == "denoising"]
        assert steps == sorted(steps) and steps[-1] == STEPS
        assert events[-1]["status"] == "SUCCEEDED"
        assert events[-1]["result"]["metadata"]["batch"] == {
            "tasks": 4,
            "images": 4,
            "exact": True,
        }
    assert b1_events[-1]["status"] == "CANCELLED"

    finals = {
        t["id"]: (api.wait_for(t["id"], is_terminal, timeout=120))
        for api, t in ((alice, a0), (alice, a1), (alice, a2), (bob, b0), (alice, other))
    }
    assert {task["status"] for task in finals.values()} == {"SUCCEEDED"}
    assert finals[a0["id"]]["result"]["metadata"]["batch"]["tasks"] == 4
    # A2 and the larger task cannot share a call: each ran alone after the batch.
    for alone in (a2, other):
        assert "batch" not in finals[alone["id"]]["result"]["metadata"]

    # Each member's seed gives the same image alone (the worker is idle now).
    for api, task, again in (
        (bob, b0, task_input("bob 0", 200)),
        (alice, a1, task_input("alice 1", 101)),
    ):
        single = api.wait_for(api.submit(again)["id"], is_terminal, timeout=120)
        assert single["status"] == "SUCCEEDED"
        assert "batch" not in single["result"]["metadata"]
        assert image_of(api, single) == image_of(api, finals[task["id"]])
