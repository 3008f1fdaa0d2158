"""Everything checked before a task is queued; each failure names the offending field.

A submission becomes a `Submission`: the task kind, the pipeline parameters (named
as the pipelines' parameter dataclasses name them) and the input images' bytes.
That costs no more than reading the request: images are checked from their headers
(format, size, JPEG scans). Decoding them (`graph.decoding`) is for a caller already
admitted.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import Any

import strawberry

from actors.records import TaskKind
from graph.errors import BadUserInput
from graph.inputs import (
    BackgroundRemovalInput,
    FaceSwapInput,
    ImageGenerationInput,
    SubmitTaskInput,
)
from graph.limits import InputLimits
from pipelines.errors import InvalidImage
from pipelines.images import ImageLimits, read_header
from pipelines.prompts import STYLE_PRESETS, clean_text

MAX_SEED = 2**31 - 1
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Submission:
    kind: TaskKind
    params: dict[str, Any]
    inputs: dict[str, bytes]
    # Input name -> the GraphQL path its errors name.
    fields: dict[str, str] = field(default_factory=dict)


def parse_submission(task: SubmitTaskInput, limits: InputLimits) -> Submission:
    chosen = [
        name
        for name in ("image_generation", "background_removal", "face_swap")
        if getattr(task, name) not in (None, strawberry.UNSET)
    ]
    if len(chosen) != 1:  # @oneOf already enforces this; kept for direct callers
        raise BadUserInput(
            "give exactly one of imageGeneration, backgroundRemoval, faceSwap", "input"
        )
    if task.image_generation:
        return _image_generation(task.image_generation, limits)
    if task.background_removal:
        return _background_removal(task.background_removal, limits)
    assert task.face_swap
    return _face_swap(task.face_swap, limits)


def _image_generation(given: ImageGenerationInput, limits: InputLimits) -> Submission:
    at = "input.imageGeneration."
    prompt = _text(given.prompt, at + "prompt", limits, required=True)
    negative = given.negative_prompt
    if negative is not None:
        _text(negative, at + "negativePrompt", limits, required=False)
    for name, value in (("width", given.width), ("height", given.height)):
        if not limits.min_side <= value <= limits.max_side or value % 8:
            raise BadUserInput(
                f"{name} must be a multiple of 8 from {limits.min_side} to {limits.max_side}",
                at + name,
            )
    if not 1 <= given.steps <= limits.max_steps:
        raise BadUserInput(f"steps must be from 1 to {limits.max_steps}", at + "steps")
    if not math.isfinite(given.guidance_scale) or not (
        0 <= given.guidance_scale <= limits.max_guidance
    ):
        raise BadUserInput(
            f"guidanceScale must be from 0 to {limits.max_guidance}", at + "guidanceScale"
        )
    if given.seed is not None and not 0 <= given.seed <= MAX_SEED:
        raise BadUserInput(f"seed must be from 0 to {MAX_SEED}", at + "seed")
    if given.model is not None and given.model not in limits.image_models:
        raise BadUserInput(
            f"unknown model {given.model!r}; available: {', '.join(sorted(limits.image_models))}",
            at + "model",
        )
    if given.style is not None and given.style not in STYLE_PRESETS:
        raise BadUserInput(
            f"unknown style {given.style!r}; available: {', '.join(STYLE_PRESETS)}",
            at + "style",
        )
    return Submission(
        TaskKind.IMAGE_GENERATION,
        {
            "prompt": prompt,
            "negative_prompt": negative,
            "width": given.width,
            "height": given.height,
            "steps": given.steps,
            "guidance_scale": given.guidance_scale,
            "seed": given.seed,
            "refine_prompt": given.refine_prompt,
            "style": given.style,
            "previews": given.previews,
            "model": given.model,
        },
        {},
    )


def _background_removal(given: BackgroundRemovalInput, limits: InputLimits) -> Submission:
    at = "input.backgroundRemoval."
    if given.model is not None and given.model not in limits.background_models:
        raise BadUserInput(
            f"unknown model {given.model!r}; available: "
            f"{', '.join(sorted(limits.background_models))}",
            at + "model",
        )
    image = _image(given.image, at + "image", limits)
    return Submission(
        TaskKind.BACKGROUND_REMOVAL,
        {"alpha_matting": given.alpha_matting, "only_mask": given.only_mask, "model": given.model},
        {"image": image},
        {"image": at + "image"},
    )


def _face_swap(given: FaceSwapInput, limits: InputLimits) -> Submission:
    at = "input.faceSwap."
    if given.source_face_index < 0:
        raise BadUserInput("sourceFaceIndex must be 0 or more", at + "sourceFaceIndex")
    if given.target_face_index is not None and given.target_face_index < 0:
        raise BadUserInput("targetFaceIndex must be 0 or more", at + "targetFaceIndex")
    return Submission(
        TaskKind.FACE_SWAP,
        {
            "source_face_index": given.source_face_index,
            "target_face_index": given.target_face_index,
        },
        {
            "source_image": _image(given.source_image, at + "sourceImage", limits),
            "target_image": _image(given.target_image, at + "targetImage", limits),
        },
        {"source_image": at + "sourceImage", "target_image": at + "targetImage"},
    )


def require_unicode(value: str, field: str) -> str:
    """Strings from JSON may hold lone surrogates, which no UTF-8 store accepts."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadUserInput("must be valid Unicode text (no lone surrogates)", field) from None
    return value


def _text(value: str, field: str, limits: InputLimits, *, required: bool) -> str:
    require_unicode(value, field)
    if len(value) > limits.max_prompt_chars:
        raise BadUserInput(f"at most {limits.max_prompt_chars} characters are accepted", field)
    if required and not clean_text(value):
        raise BadUserInput("must not be empty", field)
    return value


def _image(text: str, field: str, limits: InputLimits) -> bytes:
    """Base64 (or a data: URL) -> bytes of a PNG, JPEG or WebP whose header is within
    limits; no pixel is decoded (see `decode_inputs`)."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    # Checked before decoding: base64 is 4/3 the size of what it encodes.
    if len(payload) * 3 // 4 > limits.max_image_bytes + 3:
        raise BadUserInput(f"the image is larger than {limits.max_image_bytes} bytes", field)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=_altchars(payload))
    except (binascii.Error, ValueError):
        raise BadUserInput("the image is not valid base64", field) from None
    try:
        read_header(data, limits=image_limits(limits))
    except InvalidImage as error:
        raise BadUserInput(error.message, field) from None
    return data


def _altchars(payload: str) -> bytes | None:
    # URL-safe base64 uses - and _ where the standard alphabet has + and /.
    return b"-_" if ("-" in payload or "_" in payload) else None


def image_limits(limits: InputLimits, *, max_seconds: float | None = None) -> ImageLimits:
    return ImageLimits(
        max_bytes=limits.max_image_bytes,
        max_pixels=limits.max_image_pixels,
        max_jpeg_scans=limits.max_jpeg_scans,
        max_seconds=max_seconds,
    )
