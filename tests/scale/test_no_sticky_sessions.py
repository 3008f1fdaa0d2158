"""No sticky sessions: a task submitted through node A is followed live on node B and
cancelled through node C; B sees every change, in order, to the end."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.scale.nodes import Nodes
from tests.stepgate import HOLD_AT, held

# Held at step HOLD_AT until B follows it: B then sees every step after, however fast
# the machine runs them.
LONG = {"imageGeneration": {"prompt": held("a slow cat"), "width": 64, "height": 64, "steps": 150}}


def test_submit_on_a_follow_on_b_cancel_on_c(three_nodes: Nodes) -> None:
    stack, a, b, c = three_nodes.stack, three_nodes.a, three_nodes.b, three_nodes.c

    async def scenario() -> list[dict[str, Any]]:
        task_id = a.submit(LONG)["id"]
        events: list[dict[str, Any]] = []
        async for event in b.follow(task_id):
            if not events:
                stack.release(task_id)
            events.append(event)
            started = event["status"] == "RUNNING" and (event["step"] or 0) >= 5
            if started and not any(e["cancelRequested"] for e in events):
                await asyncio.to_thread(c.cancel, task_id)
        return events

    events = asyncio.run(asyncio.wait_for(scenario(), 60))

    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences))
    steps = [event["step"] for event in events if event["stage"] == "denoising"]
    # Each step from the one B joined at (HOLD_AT at the latest: the task waits there
    # for B) to the one the cancel was sent at; how many run after it is the machine's.
    assert steps == sorted(steps) and steps[-1] >= 5, steps
    assert set(range(min(steps[0], HOLD_AT), 6)) <= set(steps), steps
    assert any(event["cancelRequested"] for event in events)
    assert events[-1]["status"] == "CANCELLED", events[-1]
