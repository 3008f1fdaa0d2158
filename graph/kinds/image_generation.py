"""IMAGE_GENERATION: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import strawberry

from actors.interface import TaskKind
from graph.errors import BadUserInput
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


@strawberry.input
class ImageGenerationInput:
    prompt: str
    negative_prompt: str | None = None
    width: int = strawberry.field(default=512, description="Multiple of 8, within bounds.")
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = strawberry.field(default=None, description=SEED)
    refine_prompt: bool = True
    previews: bool = False
    model: str | None = strawberry.field(
        default=None, description="A configured model name; default from settings."
    )
    style: str | None = strawberry.field(default=None, description=STYLE)
    num_images: int = strawberry.field(default=1, description=NUM_IMAGES)
    scheduler: str | None = strawberry.field(default=None, description=SCHEDULER)
    loras: list[LoraInput] | None = strawberry.field(default=None, description=LORAS)


def parse(given: ImageGenerationInput, limits: InputLimits) -> Submission:
    at = "input.imageGeneration."
    params = diffusion_params(given, at, limits)
    for name, value in (("width", given.width), ("height", given.height)):
        if not limits.min_side <= value <= limits.max_side or value % 8:
            raise BadUserInput(
                f"{name} must be a multiple of 8 from {limits.min_side} to {limits.max_side}",
                at + name,
            )
    return Submission(
        TaskKind.IMAGE_GENERATION, {**params, "width": given.width, "height": given.height}, {}
    )
