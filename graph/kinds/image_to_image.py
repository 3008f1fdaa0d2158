"""IMAGE_TO_IMAGE and INPAINTING: their GraphQL inputs, and how they become submissions.

That the mask is the image's size (as seen, upright) and repaints something (is not
all black) needs their pixels: it is checked where submitted images are decoded, after
admission (graph.decoding), and again by the pipeline.
"""

from __future__ import annotations

import math
from typing import Any

import strawberry
from strawberry.file_uploads import Upload

from actors.interface import TaskKind
from graph.errors import BadUserInput
from graph.imagesources import FILE, FROM_TASK, FROM_TASK_IMAGE, image_inputs
from graph.kinds.diffusion import (
    LORAS,
    NUM_IMAGES,
    SCHEDULER,
    SEED,
    STYLE,
    LoraInput,
    diffusion_params,
)
from graph.limits import InputLimits
from graph.validation import Submission

IMAGE = (
    "Base64 or data: URL; PNG, JPEG or WebP. The result has its size, rounded to a multiple of 8."
)
STRENGTH = "0 < strength <= 1: how far from the input (1 ignores it)."


@strawberry.input
class ImageToImageInput:
    prompt: str
    image: str | None = strawberry.field(default=None, description=IMAGE)
    image_file: Upload | None = strawberry.field(default=None, description=FILE)
    image_from_task: strawberry.ID | None = strawberry.field(default=None, description=FROM_TASK)
    image_from_task_image: int | None = strawberry.field(default=None, description=FROM_TASK_IMAGE)
    negative_prompt: str | None = None
    strength: float = strawberry.field(default=0.6, description=STRENGTH)
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = strawberry.field(default=None, description=SEED)
    num_images: int = strawberry.field(default=1, description=NUM_IMAGES)
    scheduler: str | None = strawberry.field(default=None, description=SCHEDULER)
    model: str | None = None
    refine_prompt: bool = True
    style: str | None = strawberry.field(default=None, description=STYLE)
    previews: bool = False
    loras: list[LoraInput] | None = strawberry.field(default=None, description=LORAS)


@strawberry.input
class InpaintingInput(ImageToImageInput):
    """Image-to-image's fields plus the mask; strength defaults to 1 here."""

    strength: float = strawberry.field(default=1.0, description=STRENGTH)
    mask: str | None = strawberry.field(
        default=None,
        description="White = repaint, black = keep (kept pixels come back as they were); "
        "the image's size.",
    )
    mask_file: Upload | None = strawberry.field(default=None, description=FILE)
    mask_from_task: strawberry.ID | None = strawberry.field(default=None, description=FROM_TASK)
    mask_from_task_image: int | None = strawberry.field(default=None, description=FROM_TASK_IMAGE)


def parse_image_to_image(given: ImageToImageInput, limits: InputLimits) -> Submission:
    at = "input.imageToImage."
    params = _edit_params(given, at, limits)
    return Submission(TaskKind.IMAGE_TO_IMAGE, params, **image_inputs(given, ["image"], at, limits))


def parse_inpainting(given: InpaintingInput, limits: InputLimits) -> Submission:
    at = "input.inpainting."
    params = _edit_params(given, at, limits)
    images = image_inputs(given, ["image", "mask"], at, limits)

    def mask_fits(decoded: dict[str, Any]) -> None:
        # Upright sizes: a phone's JPEG may be stored turned, its mask drawn as seen.
        (width, height), (mask_width, mask_height) = decoded["image"].size, decoded["mask"].size
        if (width, height) != (mask_width, mask_height):
            raise BadUserInput(
                f"the mask is {mask_width}x{mask_height}, the image {width}x{height}: "
                "they must be the same size",
                at + "mask",
            )
        if decoded["mask"].convert("L").getextrema()[1] == 0:
            raise BadUserInput("the mask is all black: nothing to repaint", at + "mask")

    return Submission(TaskKind.INPAINTING, params, **images, vet_decoded=mask_fits)


def _edit_params(given: Any, at: str, limits: InputLimits) -> dict[str, Any]:
    params = diffusion_params(given, at, limits)
    if not math.isfinite(given.strength) or not 0 < given.strength <= 1:
        raise BadUserInput("strength must be above 0 and at most 1", at + "strength")
    if int(given.steps * given.strength) < 1:
        raise BadUserInput(
            f"steps x strength must be at least 1 ({given.steps} x {given.strength:g} "
            "runs no step)",
            at + "strength",
        )
    return {
        **params,
        "strength": given.strength,
        "min_side": limits.min_side,
        "max_side": limits.max_side,
    }
