"""IMAGE_GENERATION: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import math

import strawberry

from actors.interface import STYLE_PRESETS, TaskKind
from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import MAX_SEED, Submission, checked_text


@strawberry.input
class ImageGenerationInput:
    prompt: str
    negative_prompt: str | None = None
    width: int = strawberry.field(default=512, description="Multiple of 8, within bounds.")
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = strawberry.field(
        default=None, description="0 .. 2147483647; null picks one, returned in the result."
    )
    refine_prompt: bool = True
    previews: bool = False
    model: str | None = strawberry.field(
        default=None, description="A configured model name; default from settings."
    )
    style: str | None = strawberry.field(
        default=None,
        description="A prompt style preset: photo, cinematic, illustration, anime, 3d.",
    )


def parse(given: ImageGenerationInput, limits: InputLimits) -> Submission:
    at = "input.imageGeneration."
    known = limits.models.get(TaskKind.IMAGE_GENERATION, frozenset())
    prompt = checked_text(given.prompt, at + "prompt", limits, required=True)
    negative = given.negative_prompt
    if negative is not None:
        checked_text(negative, at + "negativePrompt", limits, required=False)
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
    if given.model is not None and given.model not in known:
        raise BadUserInput(
            f"unknown model {given.model!r}; available: {', '.join(sorted(known))}",
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
