"""Three kinds chained on a live stack without a download: generate two images, redraw
the second (`imageFromTask`, `imageFromTaskImage`), cut out the redrawn one; each
step's input is the earlier result's bytes, read on the server."""

from __future__ import annotations

import base64
from typing import Any

from tests.api.scenarios import generation, is_terminal
from tests.client import Api

RESULT = "query R($id: ID!) { task(id: $id) { result { images { base64 width height } } } }"


def finished(api: Api, task_input: dict[str, Any]) -> dict[str, Any]:
    task = api.submit(task_input)
    done = api.wait_for(task["id"], is_terminal, timeout=120)
    assert done["status"] == "SUCCEEDED", done["error"]
    return done


def images_of(api: Api, task_id: str) -> list[bytes]:
    result = api.data(RESULT, id=task_id)["task"]["result"]
    return [base64.b64decode(image["base64"]) for image in result["images"]]


def test_generate_then_redraw_then_cut_out_by_task_ids(api: Api) -> None:
    generated = finished(api, generation("two to choose from", numImages=2))
    edit = {"prompt": "redrawn", "steps": 4, "seed": 3, "refinePrompt": False}
    redrawn = finished(
        api,
        {"imageToImage": {**edit, "imageFromTask": generated["id"], "imageFromTaskImage": 1}},
    )
    cut = finished(api, {"backgroundRemoval": {"imageFromTask": redrawn["id"]}})

    # The same steps with the bytes sent inline give the same results: each input was
    # exactly the earlier result's image.
    second = base64.b64encode(images_of(api, generated["id"])[1]).decode()
    inline = finished(api, {"imageToImage": {**edit, "image": second}})
    assert images_of(api, inline["id"]) == images_of(api, redrawn["id"])
    redrawn_inline = base64.b64encode(images_of(api, redrawn["id"])[0]).decode()
    cut_inline = finished(api, {"backgroundRemoval": {"image": redrawn_inline}})
    assert images_of(api, cut_inline["id"]) == images_of(api, cut["id"])
    assert cut["kind"] == "BACKGROUND_REMOVAL" and redrawn["kind"] == "IMAGE_TO_IMAGE"
