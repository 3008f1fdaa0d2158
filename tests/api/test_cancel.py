"""cancelTask: QUEUED ends at once and never runs; RUNNING stops at its next step."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.scenarios import (
    assert_well_ordered,
    finish,
    generation,
    is_terminal,
    long_generation,
    stamped,
    when,
    worker_held,
)
from tests.client import CANCEL, Api


def test_cancel_queued_task_ends_it_at_once_and_it_never_runs(api: Api) -> None:
    with worker_held(api):
        queued = api.submit(generation("never runs"))
        cancelled = api.cancel(queued["id"])
        assert cancelled["status"] == "CANCELLED"
        assert cancelled["error"]["code"] == "CANCELLED"
        assert cancelled["error"]["reason"] == "CANCELLED" == cancelled["stageCode"]
        assert cancelled["finishedAt"] is not None and cancelled["expiresAt"] is not None
        assert cancelled["startedAt"] is None and cancelled["queuePosition"] is None
        assert cancelled["sequence"] > queued["sequence"]
        # Submitted behind the cancelled one: once it has run, the worker has been
        # handed the cancelled task's message too.
        behind = api.submit(generation("runs after the cancelled one"))
    done = api.wait_for(behind["id"], is_terminal, timeout=60)
    assert done["status"] == "SUCCEEDED", done["error"]
    later = api.get(queued["id"])
    assert later is not None
    assert later["status"] == "CANCELLED" and later["startedAt"] is None
    assert later["sequence"] == cancelled["sequence"]


def test_cancel_running_generation_stops_within_a_step_and_frees_the_worker(api: Api) -> None:
    """Measured figures are printed (pytest -rP shows them)."""

    async def scenario(task_id: str) -> dict[str, Any]:
        step_times: dict[int, float] = {}
        after: list[dict] = []
        requested: dict[str, Any] = {}
        async for at, event in stamped(api, task_id):
            if not requested:
                if event["stage"] == "denoising" and event["step"]:
                    step_times.setdefault(event["step"], at)
                if len(step_times) >= 4:
                    requested["wall"] = datetime.now(UTC)
                    requested["at"] = time.monotonic()
                    requested["reply"] = await asyncio.to_thread(api.cancel, task_id)
                continue
            after.append(event)
            if is_terminal(event):
                requested["terminal_at"] = at
        return {"steps": step_times, "after": after, **requested}

    long_task = api.submit(long_generation("cancelled mid-denoise"))
    next_task = api.submit(generation("queued behind the cancelled one"))
    try:
        seen = asyncio.run(asyncio.wait_for(scenario(long_task["id"]), 90))
    finally:
        finish(api, long_task["id"])

    reply = seen["reply"]
    assert reply["status"] == "RUNNING" and reply["cancelRequested"] is True, reply
    final = seen["after"][-1]
    assert final["status"] == "CANCELLED", final
    assert final["error"]["code"] == "CANCELLED" and final["result"] is None
    assert final["expiresAt"] is not None and final["finishedAt"] is not None
    assert final["step"] < final["totalSteps"] == 150

    arrivals = [seen["steps"][s] for s in sorted(seen["steps"])]
    step_time = statistics.median(b - a for a, b in itertools.pairwise(arrivals))
    latency = seen["terminal_at"] - seen["at"]
    steps_after_cancel = final["step"] - max(seen["steps"])
    bound = max(10 * step_time, 2.0)

    started = api.wait_for(next_task["id"], lambda t: t["startedAt"] is not None, timeout=30)
    to_next = when(started["startedAt"]) - seen["wall"]  # type: ignore[operator]
    done = api.wait_for(next_task["id"], is_terminal, timeout=60)
    print(
        f"\nstep time {step_time * 1000:.0f} ms; cancel -> CANCELLED event "
        f"{latency * 1000:.0f} ms ({latency / step_time:.1f} steps, "
        f"{steps_after_cancel} step(s) reported after the request); "
        f"cancel -> next task started {to_next.total_seconds() * 1000:.0f} ms"
    )
    assert latency < bound, (latency, step_time)
    assert timedelta(0) < to_next < timedelta(seconds=bound), to_next
    assert done["status"] == "SUCCEEDED", done["error"]


def test_cancel_finished_task_returns_it_unchanged(api: Api) -> None:
    task = api.submit(generation("finished before the cancel"))
    done = api.wait_for(task["id"], is_terminal, timeout=60)
    assert done["status"] == "SUCCEEDED", done["error"]
    again = api.cancel(task["id"])
    assert again == done
    assert api.get(task["id"]) == done


def test_cancel_cancelled_task_returns_it_unchanged(api: Api) -> None:
    with worker_held(api):
        task = api.submit(generation("cancelled twice"))
        first = api.cancel(task["id"])
        assert first["status"] == "CANCELLED"
        assert api.cancel(task["id"]) == first


def test_cancel_someone_elses_task_is_not_found_and_leaves_it_alone(api: Api, bob: Api) -> None:
    task = api.submit(generation("alice's, not bob's"))
    try:
        body = bob.execute(CANCEL, id=task["id"])
        assert body.get("data") is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
        still = api.get(task["id"])
        assert still is not None and still["cancelRequested"] is False
        assert still["status"] != "CANCELLED"
        unknown = api.execute(CANCEL, id="00000000-0000-4000-8000-000000000000")
        assert [e["extensions"]["code"] for e in unknown["errors"]] == ["NOT_FOUND"]
    finally:
        finish(api, task["id"])


def test_events_of_a_cancelled_running_task_stay_well_ordered(api: Api) -> None:
    task = api.submit(long_generation("watched while cancelled"))

    async def scenario() -> list[dict]:
        events = []
        async for event in api.follow(task["id"]):
            events.append(event)
            # The first denoising step this client sees: a slow client's events may be
            # coalesced, so step 1 itself may never arrive.
            first = not any(e["cancelRequested"] for e in events)
            if first and event["step"] and event["stage"] == "denoising":
                await asyncio.to_thread(api.cancel, task["id"])
        return events

    try:
        events = asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        finish(api, task["id"])
    assert_well_ordered(events)
    assert events[-1]["status"] == "CANCELLED"
    assert any(e["cancelRequested"] and e["status"] == "RUNNING" for e in events)
