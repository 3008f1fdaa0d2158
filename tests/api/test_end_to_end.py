"""Each task kind from submit to result, followed live over a websocket."""

from __future__ import annotations

import asyncio
import base64

from PIL import Image
from skimage import data as samples

from tests.client import Api, image_b64, png_size


def assert_well_ordered(events: list[dict]) -> None:
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(set(sequences)), sequences
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress), progress
    terminal = [e for e in events if e["status"] in ("SUCCEEDED", "FAILED", "CANCELLED")]
    assert terminal == [events[-1]], [e["status"] for e in events]
    # Every stage a task goes through has its enum value, for clients to switch on.
    assert all(e["stageCode"] for e in events), [(e["stage"], e["stageCode"]) for e in events]
    for e in events:
        assert e["createdAt"].endswith("Z") and len(e["createdAt"]) == 24, e["createdAt"]


def test_image_generation_streams_steps_then_a_downloadable_result(api: Api) -> None:
    task = api.submit(
        {
            "imageGeneration": {
                "prompt": "a red fox",
                "width": 64,
                "height": 96,
                "steps": 6,
                "seed": 42,
                "previews": True,
            }
        }
    )
    assert task["status"] == "QUEUED"
    events = asyncio.run(api.events(task["id"]))
    assert_well_ordered(events)
    final = events[-1]
    assert final["status"] == "SUCCEEDED", final["error"]
    assert final["progress"] == 1.0
    assert [e["step"] for e in events if e["stage"] == "denoising"][-6:] == [1, 2, 3, 4, 5, 6]
    assert any(e["preview"] for e in events)
    result = final["result"]
    assert result["seed"] == 42 and result["promptUsed"] == "a red fox"
    assert result["metadata"]["model"] == "tiny-random" and result["metadata"]["demo"] is True
    assert final["stageCode"] == "DONE" and "DENOISING" in {e["stageCode"] for e in events}
    details = result["details"]  # the metadata, typed
    assert (details["model"], details["demo"], details["steps"]) == ("tiny-random", True, 6)
    assert (details["attempts"], details["numImages"]) == (1, 1)
    phases = [timing["phase"] for timing in details["timings"]]
    assert "denoise" in phases and phases[-1] == "total", phases
    assert all(timing["ms"] >= 0 for timing in details["timings"])
    download = api.download(result["image"]["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert (
        png_size(download.content)
        == (64, 96)
        == (result["image"]["width"], result["image"]["height"])
    )
    inline = api.data(
        "query($id: ID!) { task(id: $id) { result { image { base64 } } } }", id=task["id"]
    )
    assert base64.b64decode(inline["task"]["result"]["image"]["base64"]) == download.content


def test_background_removal_returns_an_rgba_cutout(api: Api) -> None:
    photo = Image.fromarray(samples.astronaut()).resize((256, 256))
    task = api.submit({"backgroundRemoval": {"image": image_b64(photo, "JPEG")}})
    events = asyncio.run(api.events(task["id"]))
    assert_well_ordered(events)
    final = events[-1]
    assert final["status"] == "SUCCEEDED", final["error"]
    cutout = api.download(final["result"]["image"]["url"]).content
    assert png_size(cutout) == (256, 256)
    assert final["result"]["metadata"]["model"] == "u2netp"


def test_face_swap_runs_the_classical_engine_without_weights(api: Api) -> None:
    face = Image.fromarray(samples.astronaut())
    target = Image.fromarray(samples.astronaut()[:, ::-1].copy())
    task = api.submit(
        {"faceSwap": {"sourceImage": image_b64(face), "targetImage": image_b64(target)}}
    )
    events = asyncio.run(api.events(task["id"]))
    assert_well_ordered(events)
    final = events[-1]
    assert final["status"] == "SUCCEEDED", final["error"]
    assert final["result"]["metadata"]["engine"] == "classical"
    assert png_size(api.download(final["result"]["image"]["url"]).content) == (512, 512)
