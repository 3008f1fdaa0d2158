"""Queue positions, idempotency keys, many concurrent tasks and the caller's task list."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
from PIL import Image

from tests.api.scenarios import (
    TERMINAL,
    assert_well_ordered,
    finish,
    generation,
    held_generation,
    is_terminal,
    worker_held,
)
from tests.client import TASK_FIELDS, Api, image_b64, png_size
from tests.stack import ALICE_KEY, Stack

LIST = (
    TASK_FIELDS
    + """
query List($status: TaskStatus, $limit: Int!) {
  tasks(status: $status, limit: $limit) { ...TaskFields }
}
"""
)


def listed(api: Api, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return api.data(LIST, status=status, limit=limit)["tasks"]


def positions(api: Api, *ids: str) -> list[int | None]:
    return [api.get(task_id)["queuePosition"] for task_id in ids]  # type: ignore[index]


def test_queue_positions_count_from_one_and_fall_as_the_queue_drains(
    api: Api, stack: Stack
) -> None:
    with worker_held(api) as holder:
        assert holder["queuePosition"] is None
        first = api.submit(held_generation("first in line", size=64, steps=12))
        second = api.submit(generation("second in line"))
        third = api.submit(generation("third in line"))
        ids = first["id"], second["id"], third["id"]
        assert [first["queuePosition"], second["queuePosition"], third["queuePosition"]] == [
            1,
            2,
            3,
        ]
        assert positions(api, *ids) == [1, 2, 3]
        api.cancel(holder["id"])
        running = api.wait_for(first["id"], lambda t: t["status"] != "QUEUED", timeout=30)
        assert running["status"] == "RUNNING" and running["queuePosition"] is None
        assert positions(api, second["id"], third["id"]) == [1, 2]
        stack.release(first["id"])

        # Drained one by one: the last one's position only ever falls. (Status and
        # position are two reads, so a task taken between them shows QUEUED with no
        # position: a torn read, left out here.)
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while (task := api.get(third["id"])) and not is_terminal(task):
            if task["status"] == "QUEUED" and task["queuePosition"] is not None:
                seen.append(task["queuePosition"])
            assert time.monotonic() < deadline, task
            time.sleep(0.02)
        assert seen == sorted(seen, reverse=True) and seen[0] == 2, seen
    finals = [api.wait_for(i, is_terminal, timeout=30) for i in ids]
    assert [t["status"] for t in finals] == ["SUCCEEDED"] * 3
    assert [t["queuePosition"] for t in finals] == [None] * 3
    starts = [t["startedAt"] for t in finals]
    assert starts == sorted(starts), "tasks did not start in queue order"


def test_same_idempotency_key_from_the_same_caller_returns_the_first_task(
    api: Api, bob: Api
) -> None:
    key = f"order-{time.time_ns()}"
    first = api.submit(generation("idempotent"), key=key)
    again = api.submit(generation("idempotent"), key=key)
    assert again["id"] == first["id"]
    assert api.submit(generation("a different prompt, same key"), key=key)["id"] == first["id"]
    bobs = bob.submit(generation("idempotent"), key=key)
    assert bobs["id"] != first["id"]
    other = api.submit(generation("idempotent"), key=key + "-other")
    assert other["id"] not in (first["id"], bobs["id"])
    assert bob.get(first["id"]) is None and api.get(bobs["id"]) is None
    for task_api, task_id in ((api, first["id"]), (bob, bobs["id"]), (api, other["id"])):
        done = task_api.wait_for(task_id, is_terminal, timeout=60)
        assert done["status"] == "SUCCEEDED", done["error"]


def test_twenty_concurrent_mixed_tasks_all_succeed_each_followed_live(stack: Stack) -> None:
    """The wall time is printed (pytest -rP shows it)."""
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cutout = {"backgroundRemoval": {"image": image_b64(photo)}}
    inputs = [
        cutout if i % 5 == 4 else generation(f"concurrent {i}", steps=2 + i % 3, seed=i)
        for i in range(20)
    ]
    pool = ThreadPoolExecutor(max_workers=len(inputs))

    async def one(task_input: dict[str, Any]) -> list[dict]:
        client = Api(stack.http_url, stack.ws_url, key=ALICE_KEY)
        try:
            loop = asyncio.get_running_loop()
            task = await loop.run_in_executor(pool, client.submit, task_input)
            assert task["status"] == "QUEUED"
            events = await client.events(task["id"], timeout=120)
            assert all(e["id"] == task["id"] for e in events)
            return events
        finally:
            client.http.close()

    async def everything() -> list[list[dict]]:
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in inputs)), 150)

    started = time.monotonic()
    try:
        streams = asyncio.run(everything())
    finally:
        pool.shutdown(wait=False)
    wall = time.monotonic() - started
    print(f"\n20 concurrent tasks (16 generations, 4 cutouts): {wall:.1f} s wall")

    assert len({s[-1]["id"] for s in streams}) == 20
    for task_input, events in zip(inputs, streams, strict=True):
        assert_well_ordered(events)
        final = events[-1]
        assert final["status"] == "SUCCEEDED", final["error"]
        image = final["result"]["image"]
        if "backgroundRemoval" in task_input:
            assert final["kind"] == "BACKGROUND_REMOVAL"
            assert (image["width"], image["height"]) == (64, 64)
        else:
            assert final["kind"] == "IMAGE_GENERATION"
            assert final["result"]["seed"] == task_input["imageGeneration"]["seed"]
    last = httpx.get(streams[-1][-1]["result"]["image"]["url"], timeout=30)
    assert last.status_code == 200 and png_size(last.content) == (64, 64)


def test_tasks_lists_only_the_callers_own_newest_first_and_filters_by_status(
    api: Api, bob: Api
) -> None:
    bobs = bob.submit(generation("bob's task"))
    with worker_held(api) as holder:
        older = api.submit(generation("alice older"))
        newer = api.submit(generation("alice newer"))
        api.cancel(newer["id"])

        assert [t["id"] for t in listed(api, limit=3)] == [newer["id"], older["id"], holder["id"]]
        assert [t["id"] for t in listed(api, limit=1)] == [newer["id"]]
        everything = listed(api)
        created = [t["createdAt"] for t in everything]
        assert created == sorted(created, reverse=True)
        assert bobs["id"] not in {t["id"] for t in everything}

        for status, expected, absent in (
            ("CANCELLED", newer["id"], older["id"]),
            ("QUEUED", older["id"], newer["id"]),
            ("RUNNING", holder["id"], older["id"]),
        ):
            tasks = listed(api, status=status)
            assert {t["status"] for t in tasks} == {status}, status
            ids = [t["id"] for t in tasks]
            assert expected in ids and absent not in ids, status
        assert [t["id"] for t in listed(api, status="RUNNING")] == [holder["id"]]

        bob_ids = {t["id"] for t in listed(bob)}
        assert bobs["id"] in bob_ids
        assert not bob_ids & {holder["id"], older["id"], newer["id"]}
        assert bob.get(older["id"]) is None and bob.get(holder["id"]) is None
    for task_api, task_id in ((api, older["id"]), (bob, bobs["id"])):
        assert task_api.wait_for(task_id, is_terminal, timeout=60)["status"] in TERMINAL
    finish(api, older["id"])


def test_tasks_limit_out_of_range_is_bad_user_input(api: Api) -> None:
    for limit in (0, 101):
        body = api.execute(LIST, status=None, limit=limit)
        error = body["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit"}, body
