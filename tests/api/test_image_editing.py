"""Image-to-image, inpainting and several images per task on a live stack (daphne, a
Dramatiq worker, Redis): followed live, cancelled mid-run, previews, and results that
keep what they must keep and reproduce from their seeds."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from tests.api.scenarios import (
    assert_well_ordered,
    edit,
    finish,
    inpaint,
    is_terminal,
    mask_of,
    picture,
    worker_held,
)
from tests.client import Api, image_b64
from tests.stack import Stack
from tests.stepgate import HOLD_AT, held

RESULT = """
query Result($id: ID!) { task(id: $id) { kind status
  result { seed seeds metadata images { width height base64 } } } }
"""


def result_of(api: Api, task_id: str) -> dict[str, Any]:
    done = api.wait_for(task_id, is_terminal, timeout=120)
    assert done["status"] == "SUCCEEDED", done["error"]
    task: dict[str, Any] = api.data(RESULT, id=task_id)["task"]
    return task


def pixels(image: dict[str, Any]) -> np.ndarray:
    data = base64.b64decode(image["base64"])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_image_to_image_is_followed_live_to_a_result_of_the_inputs_size(api: Api) -> None:
    async def follow_from_the_queue(task_id: str, holder_id: str) -> list[dict[str, Any]]:
        events = []
        async for event in api.follow(task_id):
            events.append(event)
            if len(events) == 1:  # followed while it waits: let the worker go
                await asyncio.to_thread(api.cancel, holder_id)
        return events

    with worker_held(api) as holder:
        task = api.submit(edit(image=image_b64(picture((96, 72))), strength=0.5, steps=8))
        events = asyncio.run(
            asyncio.wait_for(follow_from_the_queue(task["id"], holder["id"]), timeout=120)
        )

    assert_well_ordered(events)
    assert events[-1]["status"] == "SUCCEEDED", events[-1]["error"]
    assert events[-1]["kind"] == "IMAGE_TO_IMAGE"
    stages = [e["stage"] for e in events]
    assert "denoising" in stages and stages[-1] == "done"
    steps = [e["step"] for e in events if e["stage"] == "denoising" and e["step"]]
    assert steps == [1, 2, 3, 4]  # 8 steps at strength 0.5: the last 4 run
    assert {e["totalSteps"] for e in events if e["stage"] == "denoising"} == {4}
    found = result_of(api, task["id"])
    (image,) = found["result"]["images"]
    assert (image["width"], image["height"]) == (96, 72)
    assert found["result"]["metadata"]["kind"] == "image-to-image"
    assert found["result"]["metadata"]["strength"] == 0.5


def test_inpainting_gives_back_every_pixel_outside_the_mask(api: Api) -> None:
    task = api.submit(inpaint(numImages=2))
    found = result_of(api, task["id"])

    original = np.asarray(picture())
    keep = np.asarray(mask_of((64, 64), (16, 8, 40, 56))) == 0
    assert found["kind"] == "INPAINTING" and len(found["result"]["images"]) == 2
    for image in found["result"]["images"]:
        made = pixels(image)
        assert np.array_equal(made[keep], original[keep])  # pixel for pixel
        assert not np.array_equal(made[~keep], original[~keep])


def test_each_of_several_images_comes_back_alone_from_its_seed(api: Api) -> None:
    several = api.submit(
        {
            "imageGeneration": {
                "prompt": "three foxes",
                "width": 64,
                "height": 64,
                "steps": 3,
                "seed": 500,
                "numImages": 3,
                "scheduler": "euler-ancestral",
                "refinePrompt": False,
            }
        }
    )
    found = result_of(api, several["id"])
    assert found["result"]["seeds"] == [500, 501, 502] and found["result"]["seed"] == 500
    assert found["result"]["metadata"]["scheduler"] == "euler-ancestral"
    images = [image["base64"] for image in found["result"]["images"]]
    assert len(set(images)) == 3

    alone = api.submit(
        {
            "imageGeneration": {
                "prompt": "three foxes",
                "width": 64,
                "height": 64,
                "steps": 3,
                "seed": 502,
                "scheduler": "euler-ancestral",
                "refinePrompt": False,
            }
        }
    )
    assert result_of(api, alone["id"])["result"]["images"][0]["base64"] == images[2]


def test_an_edit_cancelled_mid_run_stops_there(api: Api, stack: Stack) -> None:
    task = api.submit(inpaint(held("a held edit"), steps=20, previews=True))
    try:
        running = api.wait_for(
            task["id"], lambda t: t["step"] == HOLD_AT or is_terminal(t), timeout=120
        )
        assert running["status"] == "RUNNING" and running["kind"] == "INPAINTING", running
        assert running["preview"] is not None  # previews were asked for
        cancelled = api.cancel(task["id"])
        assert cancelled["cancelRequested"] or cancelled["status"] == "CANCELLED"
        ended = api.wait_for(task["id"], is_terminal, timeout=60)
    finally:
        finish(api, task["id"])
    assert ended["status"] == "CANCELLED" and ended["step"] == HOLD_AT
    assert ended["result"] is None
