"""Building blocks the API tests share: inputs, a held worker, timed and checked event streams."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
from PIL import Image

from tests.client import Api, image_b64
from tests.stepgate import held

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

# Many steps, each a noticeable while (about 70 ms at 512x512 on a 2-core machine): a
# task whose steps a test watches go by, and cancels on the way. A task that must still
# be running when a test acts on it is held instead (`held_generation`): how long a task
# takes is the machine's business, how long it is held is the test's.
LONG_SIZE, LONG_STEPS = 512, 150


def generation(
    prompt: str = "a small test image", *, size: int = 64, steps: int = 2, **extra: Any
) -> dict[str, Any]:
    """A text-to-image input; small and quick unless told otherwise."""
    return {
        "imageGeneration": {
            "prompt": prompt,
            "width": size,
            "height": size,
            "steps": steps,
            "seed": 7,
            "refinePrompt": False,
            **extra,
        }
    }


def picture(size: tuple[int, int] = (64, 64), seed: int = 3) -> Image.Image:
    noise = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(noise)


def mask_of(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    drawn = Image.new("L", size, 0)
    drawn.paste(255, box)
    return drawn


def edit(prompt: str = "a fox", **extra: Any) -> dict[str, Any]:
    fields = {"prompt": prompt, "image": image_b64(picture()), "steps": 4, "seed": 9}
    return {"imageToImage": {**fields, "refinePrompt": False, **extra}}


def inpaint(prompt: str = "a fox", **extra: Any) -> dict[str, Any]:
    fields = {
        "prompt": prompt,
        "image": image_b64(picture()),
        "mask": image_b64(mask_of((64, 64), (16, 8, 40, 56))),
        "steps": 4,
        "seed": 9,
    }
    return {"inpainting": {**fields, "refinePrompt": False, **extra}}


def long_generation(prompt: str = "a long task") -> dict[str, Any]:
    return generation(prompt, size=LONG_SIZE, steps=LONG_STEPS)


def held_generation(prompt: str = "a task that holds the worker", **kwargs: Any) -> dict[str, Any]:
    """A generation that stops at its step `tests.stepgate.HOLD_AT` and stays RUNNING
    there until `Stack.release` or a cancel: long generations otherwise (all their steps
    after the release)."""
    return generation(held(prompt), **{"size": LONG_SIZE, "steps": LONG_STEPS, **kwargs})


def is_terminal(task: dict[str, Any]) -> bool:
    return task["status"] in TERMINAL


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def finish(api: Api, task_id: str, timeout: float = 60) -> dict[str, Any]:
    """Cancel the task unless it already ended, and wait until it has."""
    task = api.get(task_id)
    assert task is not None, task_id
    if not is_terminal(task):
        api.cancel(task_id)
    return api.wait_for(task_id, is_terminal, timeout=timeout)


@contextmanager
def worker_held(api: Api) -> Iterator[dict[str, Any]]:
    """A held generation RUNNING on the only worker thread; cancelled on exit.

    While it is held, every task submitted after it stays QUEUED.
    """
    holder = api.submit(held_generation())
    try:
        running = api.wait_for(holder["id"], lambda t: t["status"] != "QUEUED", timeout=60)
        assert running["status"] == "RUNNING", running
        yield running
    finally:
        finish(api, holder["id"])


def assert_well_ordered(events: list[dict[str, Any]]) -> None:
    """Strictly increasing sequence, never-decreasing progress, one terminal event, last."""
    assert events, "no events"
    sequences = [e["sequence"] for e in events]
    assert all(a < b for a, b in itertools.pairwise(sequences)), sequences
    progress = [e["progress"] for e in events]
    assert all(a <= b for a, b in itertools.pairwise(progress)), progress
    terminal = [e for e in events if is_terminal(e)]
    assert terminal == [events[-1]], [e["status"] for e in events]


async def follow_from_queued(
    api: Api, task_id: str, holder_id: str, subscribers: int = 1, timeout: float = 60
) -> list[list[dict[str, Any]]]:
    """Whole streams of a task waiting behind `holder_id`: each subscriber has its
    QUEUED snapshot (so has joined the task's group) before the holder is cancelled."""

    async def subscriber(ready: asyncio.Event) -> list[dict[str, Any]]:
        events = []
        async for event in api.follow(task_id):
            events.append(event)
            ready.set()
        return events

    ready = [asyncio.Event() for _ in range(subscribers)]
    followers = [asyncio.create_task(subscriber(r)) for r in ready]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
        await asyncio.to_thread(api.cancel, holder_id)
        return list(await asyncio.wait_for(asyncio.gather(*followers), timeout))
    finally:
        for follower in followers:
            follower.cancel()


async def stamped(api: Api, task_id: str, **kwargs: Any) -> AsyncIterator[tuple[float, dict]]:
    """The task's events, each with the `time.monotonic()` at which it arrived."""
    async for event in api.follow(task_id, **kwargs):
        yield time.monotonic(), event


def graphql_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a GraphQL response that must have failed."""
    errors = body.get("errors")
    assert errors and len(errors) == 1, body
    return errors[0]
