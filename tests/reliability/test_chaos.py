"""200 tasks, random cancels and a worker SIGKILLed mid-run: every task ends exactly
once, the counts add up, and every subscriber sees its task's terminal event.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.client import CANCEL, GET, SUBMIT, Api, image_b64
from tests.stack import ALICE_KEY, Stack, running_stack

TASKS = 200
CANCELS = 40
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
ENV = {
    "ATELIER_LEASE_SECONDS": "2",
    "ATELIER_SWEEP_EVERY": "0.5",
    "ATELIER_MAX_ATTEMPTS": "3",
    "ATELIER_MAX_UNFINISHED_PER_KEY": "1000",
    "ATELIER_WS_MAX_SUBSCRIPTIONS": "50",
}


def task_input(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.2:
        from PIL import Image

        picture = Image.new("RGB", (64, 48), (200, 40, 40))
        return {"backgroundRemoval": {"image": image_b64(picture)}}
    steps = rng.randint(1, 5)
    return {"imageGeneration": {"prompt": "chaos", "width": 64, "height": 64, "steps": steps}}


@pytest.fixture
def stack(stack_models: Path, redis_url: str, tmp_path: Path) -> Any:
    with running_stack(redis_url, tmp_path, stack_models, ENV) as running:
        yield running


def test_every_task_ends_exactly_once_through_cancels_and_a_killed_worker(stack: Stack) -> None:
    second = stack.start_worker()
    rng = random.Random(20261125)
    outcome = asyncio.run(run_chaos(stack, rng))
    events: dict[str, list[dict[str, Any]]] = outcome["events"]
    finals: dict[str, dict[str, Any]] = outcome["finals"]
    cancelled: set[str] = outcome["cancelled"]

    for task_id, stream in events.items():
        sequences = [event["sequence"] for event in stream]
        assert sequences == sorted(set(sequences)), f"{task_id}: out of order {sequences}"
        terminal = [event for event in stream if event["status"] in TERMINAL]
        assert len(terminal) == 1 and stream[-1] is terminal[0], f"{task_id}: {stream}"
        final = finals[task_id]
        # Nothing was written after the terminal event the subscriber saw.
        assert (final["status"], final["sequence"]) == (
            terminal[0]["status"],
            terminal[0]["sequence"],
        )

    counts = {status: 0 for status in TERMINAL}
    for final in finals.values():
        counts[final["status"]] += 1
    assert sum(counts.values()) == TASKS
    assert counts["FAILED"] == 0, [f for f in finals.values() if f["status"] == "FAILED"]
    uncancelled = [f for task_id, f in finals.items() if task_id not in cancelled]
    assert all(f["status"] == "SUCCEEDED" for f in uncancelled)

    # No task ran twice at once: every run after the first replaced a lost one.
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    prefix = stack.env["ATELIER_KEY_PREFIX"]
    records = [client.hgetall(f"{prefix}task:{task_id}") for task_id in finals]
    reruns = [r for r in records if int(r.get("attempts", 0)) > 1]
    started = [r for r in records if int(r["attempts"]) > 0]
    assert all(int(r["attempts"]) == int(r.get("lost", 0)) + 1 for r in started)
    print(
        f"\n{TASKS} tasks, {len(cancelled)} cancel requests, 1 worker SIGKILLed: "
        f"{counts}, {len(reruns)} re-run after the kill, 0 lost; "
        f"all ended {outcome['drained']:.2f} s after the kill"
    )
    assert second.popen.poll() is None


async def run_chaos(stack: Stack, rng: random.Random) -> dict[str, Any]:
    api = Api(stack.http_url, stack.ws_url)
    headers = {"Authorization": f"Bearer {ALICE_KEY}"}
    inputs = [task_input(rng) for _ in range(TASKS)]
    events: dict[str, list[dict[str, Any]]] = {}
    cancelled: set[str] = set()
    done = asyncio.Event()
    ended = 0

    async def follow(task_id: str) -> None:
        nonlocal ended
        stream = events.setdefault(task_id, [])
        async for event in api.follow(task_id):
            stream.append(event)
        ended += 1
        if ended >= TASKS // 3:
            done.set()

    async with httpx.AsyncClient(base_url=stack.http_url, headers=headers, timeout=30) as http:

        async def call(query: str, **variables: Any) -> dict[str, Any]:
            response = await http.post("/graphql", json={"query": query, "variables": variables})
            body = response.json()
            assert not body.get("errors"), body
            return body["data"]

        followers = []
        ids = []
        for task in inputs:
            submitted = await call(SUBMIT, input=task, key=None)
            task_id = submitted["submitTask"]["id"]
            ids.append(task_id)
            followers.append(asyncio.create_task(follow(task_id)))

        async def cancel_later(task_id: str) -> None:
            await asyncio.sleep(rng.uniform(0, 8))
            await call(CANCEL, id=task_id)
            cancelled.add(task_id)

        cancels = [asyncio.create_task(cancel_later(i)) for i in rng.sample(ids, CANCELS)]

        await asyncio.wait_for(done.wait(), 120)
        victim = stack.processes[1]  # the first worker; the second keeps running
        await asyncio.wait_for(busy(stack, victim.popen.pid, ids), 60)
        victim.kill()
        killed_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*followers, *cancels), 180)
        drained = time.monotonic() - killed_at
        finals = {task_id: (await call(GET, id=task_id))["task"] for task_id in ids}
    return {"events": events, "finals": finals, "cancelled": cancelled, "drained": drained}


async def busy(stack: Stack, group: int, ids: list[str]) -> None:
    """Until the worker whose process group is `group` runs a task: kill it mid-run."""
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    prefix = stack.env["ATELIER_KEY_PREFIX"]
    while True:
        with client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hmget(f"{prefix}task:{task_id}", ["status", "worker"])
            states = pipe.execute()
        for status, worker in states:
            if status == "RUNNING" and worker and pgid(int(worker.split(":")[-1])) == group:
                return
        await asyncio.sleep(0.01)


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
