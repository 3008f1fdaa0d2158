"""Hostile and malformed submissions, in process: refused before queueing, with a code
and the field (graph/kinds and graph/validation on a web node's real consumer)."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api.scenarios import generation, graphql_error
from tests.client import SUBMIT, png_claiming
from tests.graph.conftest import ALICE
from tests.wsclient import TRANSPORT_WS, in_process

GEN = "input.imageGeneration."
CUTOUT = "input.backgroundRemoval.image"

_ids = itertools.count(1)


def _png(size: int = 64) -> bytes:
    noise = np.random.default_rng(5).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="GIF")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _cutout(image: str) -> dict[str, Any]:
    return {"backgroundRemoval": {"image": image}}


def _swap(**extra: Any) -> dict[str, Any]:
    png = _b64(_png())
    return {"faceSwap": {"sourceImage": png, "targetImage": png, **extra}}


def answer(consumer: Any, query: str, **variables: Any) -> dict[str, Any]:
    """The payload of one operation sent by alice over a fresh in-process socket."""

    async def main() -> dict[str, Any]:
        async with in_process(consumer, TRANSPORT_WS, ALICE) as alice:
            return await alice.execute(str(next(_ids)), query, **variables)

    return asyncio.run(main())


def _mask(size: int = 64, *, black: bool = False) -> str:
    drawn = Image.new("L", (size, size), 0)
    if not black:
        drawn.paste(255, (8, 8, 24, 24))
    buffer = io.BytesIO()
    drawn.save(buffer, format="PNG")
    return _b64(buffer.getvalue())


def _edit(**extra: Any) -> dict[str, Any]:
    return {"imageToImage": {"prompt": "a fox", "image": _b64(_png()), "steps": 4, **extra}}


def _inpaint(**extra: Any) -> dict[str, Any]:
    return {"inpainting": {"prompt": "a fox", "image": _b64(_png()), "mask": _mask(), **extra}}


EDIT = "input.imageToImage."
INPAINT = "input.inpainting."

CASES = {
    "width-not-multiple-of-8": (generation(size=64, width=100), GEN + "width"),
    "width-too-large": (generation(width=4096), GEN + "width"),
    "height-too-small": (generation(height=32), GEN + "height"),
    "steps-zero": (generation(steps=0), GEN + "steps"),
    "steps-151": (generation(steps=151), GEN + "steps"),
    "guidance-negative": (generation(guidanceScale=-1), GEN + "guidanceScale"),
    "seed-negative": (generation(seed=-5), GEN + "seed"),
    "unknown-model": (generation(model="no-such-model"), GEN + "model"),
    "unknown-style": (generation(style="vaporwave"), GEN + "style"),
    "empty-prompt": (generation(""), GEN + "prompt"),
    "blank-prompt": (generation(" \t\n\r\x00\x07\u200b\u2028 "), GEN + "prompt"),
    "prompt-too-long": (generation("x" * 2001), GEN + "prompt"),
    "negative-prompt-too-long": (generation(negativePrompt="y" * 2001), GEN + "negativePrompt"),
    "invalid-base64": (_cutout("this is *not* base64 at all!"), CUTOUT),
    "empty-image": (_cutout(""), CUTOUT),
    "gif-image": (_cutout(_b64(_gif())), CUTOUT),
    "truncated-png": (_cutout(_b64(_png()[:600])), CUTOUT),
    "png-header-100000x100000": (_cutout(_b64(png_claiming(100_000, 100_000))), CUTOUT),
    "unknown-cutout-model": (
        {"backgroundRemoval": {"image": _b64(_png()), "model": "no-such-model"}},
        "input.backgroundRemoval.model",
    ),
    "source-face-index-negative": (_swap(sourceFaceIndex=-1), "input.faceSwap.sourceFaceIndex"),
    "target-face-index-negative": (_swap(targetFaceIndex=-2), "input.faceSwap.targetFaceIndex"),
    "bad-face-swap-target": (
        {"faceSwap": {"sourceImage": _b64(_png()), "targetImage": _b64(_gif())}},
        "input.faceSwap.targetImage",
    ),
    "num-images-zero": (generation(numImages=0), GEN + "numImages"),
    "num-images-over-the-bound": (generation(numImages=5), GEN + "numImages"),
    "unknown-scheduler": (generation(scheduler="warp-drive"), GEN + "scheduler"),
    "strength-zero": (_edit(strength=0), EDIT + "strength"),
    "strength-above-one": (_edit(strength=1.01), EDIT + "strength"),
    "strength-running-no-step": (_edit(strength=0.2), EDIT + "strength"),  # 4 x 0.2 < 1
    "edit-image-not-an-image": (_edit(image=_b64(_gif())), EDIT + "image"),
    "edit-unknown-model": (_edit(model="no-such-model"), EDIT + "model"),
    "edit-num-images": (_edit(numImages=9), EDIT + "numImages"),
    "edit-empty-prompt": (_edit(prompt=" "), EDIT + "prompt"),
    "mask-of-another-size": (_inpaint(mask=_mask(32)), INPAINT + "mask"),
    "mask-all-black": (_inpaint(mask=_mask(black=True)), INPAINT + "mask"),
    "mask-not-an-image": (_inpaint(mask="bm90IGFuIGltYWdl"), INPAINT + "mask"),
    "inpainting-image-truncated": (_inpaint(image=_b64(_png()[:600])), INPAINT + "image"),
    "inpainting-unknown-scheduler": (_inpaint(scheduler="x"), INPAINT + "scheduler"),
    "unknown-lora": (generation(loras=[{"name": "no-such-lora"}]), GEN + "loras.0.name"),
    "too-many-loras": (generation(loras=[{"name": f"l{i}"} for i in range(6)]), GEN + "loras"),
    "lora-scale-above-two": (
        generation(loras=[{"name": "a", "scale": 2.5}]),
        GEN + "loras.0.scale",
    ),
    "edit-lora-scale-below-minus-two": (
        _edit(loras=[{"name": "a"}, {"name": "b", "scale": -2.01}]),
        EDIT + "loras.1.scale",
    ),
    "inpainting-unknown-lora": (_inpaint(loras=[{"name": "../x"}]), INPAINT + "loras.0.name"),
}


@pytest.mark.parametrize(("task_input", "field"), list(CASES.values()), ids=list(CASES))
def test_invalid_input_is_bad_user_input_naming_the_field(
    consumer: Any, task_input: dict[str, Any], field: str
) -> None:
    body = answer(consumer, SUBMIT, input=task_input, key=None)
    assert body.get("data") is None, body
    error = graphql_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field, error
    assert "Traceback" not in error["message"] and "incident" not in error["message"]


def test_idempotency_key_too_long_is_bad_user_input(consumer: Any) -> None:
    error = graphql_error(answer(consumer, SUBMIT, input=generation(), key="k" * 201))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "idempotencyKey"}


def test_two_kinds_in_one_submission_violate_one_of(consumer: Any) -> None:
    both = {**generation(), **_swap()}
    error = graphql_error(answer(consumer, SUBMIT, input=both, key=None))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    inline = answer(
        consumer,
        'mutation { submitTask(input: {imageGeneration: {prompt: "x"}, '
        'faceSwap: {sourceImage: "a", targetImage: "b"}}) { id } }',
    )
    assert graphql_error(inline)["extensions"]["code"] == "BAD_USER_INPUT", inline
    empty = answer(consumer, SUBMIT, input={}, key=None)
    assert graphql_error(empty)["extensions"]["code"] == "BAD_USER_INPUT", empty


def test_wrong_type_in_an_inline_argument_is_bad_user_input(consumer: Any) -> None:
    body = answer(
        consumer,
        'mutation { submitTask(input: {imageGeneration: {prompt: "x", width: "abc"}}) { id } }',
    )
    assert graphql_error(body)["extensions"]["code"] == "BAD_USER_INPUT", body


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (SUBMIT, {"input": {"imageGeneration": {"prompt": "x", "width": "abc"}}, "key": None}),
        (
            "mutation($w: Int!) { submitTask(input: {imageGeneration: "
            '{prompt: "x", width: $w}}) { id } }',
            {"w": "abc"},
        ),
        (SUBMIT, {"input": {"imageGeneration": {"prompt": 42}}, "key": None}),
    ],
    ids=["width-in-input-variable", "width-variable", "prompt-number"],
)
def test_wrong_variable_type_is_bad_user_input_not_internal(
    consumer: Any, query: str, variables: dict[str, Any]
) -> None:
    """A client mistake, not a server fault: graph/masking.py says so in its docstring."""
    error = graphql_error(answer(consumer, query, **variables))
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
