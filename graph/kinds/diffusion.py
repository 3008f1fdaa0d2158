"""What the three Stable Diffusion kinds' inputs share, checked once: prompts, steps,
guidance, seed, numImages, scheduler, model and style."""

from __future__ import annotations

import math
from typing import Any, Protocol

from actors.interface import SCHEDULERS, STYLE_PRESETS, TaskKind
from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import MAX_SEED, checked_text

NUM_IMAGES = "1 to ATELIER_MAX_IMAGES (default 4) images in one batched run, one seed each."
SCHEDULER = "A sampler by name: " + ", ".join(SCHEDULERS) + "; null: the model's own."
SEED = "0 .. 2147483647; null picks one, returned in the result (image k: seed + k)."
STYLE = "A prompt style preset: photo, cinematic, illustration, anime, 3d."


class DiffusionInput(Protocol):
    prompt: str
    negative_prompt: str | None
    steps: int
    guidance_scale: float
    seed: int | None
    num_images: int
    scheduler: str | None
    model: str | None
    refine_prompt: bool
    style: str | None
    previews: bool


def diffusion_params(given: DiffusionInput, at: str, limits: InputLimits) -> dict[str, Any]:
    """The pipeline parameters every diffusion kind takes, each checked; `at` is the
    input's path ("input.imageToImage.")."""
    known = limits.models.get(TaskKind.IMAGE_GENERATION, frozenset())
    prompt = checked_text(given.prompt, at + "prompt", limits, required=True)
    if given.negative_prompt is not None:
        checked_text(given.negative_prompt, at + "negativePrompt", limits, required=False)
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
    if not 1 <= given.num_images <= limits.max_images:
        raise BadUserInput(f"numImages must be from 1 to {limits.max_images}", at + "numImages")
    if given.scheduler is not None and given.scheduler not in SCHEDULERS:
        raise BadUserInput(
            f"unknown scheduler {given.scheduler!r}; known: {', '.join(SCHEDULERS)}",
            at + "scheduler",
        )
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
    return {
        "prompt": prompt,
        "negative_prompt": given.negative_prompt,
        "steps": given.steps,
        "guidance_scale": given.guidance_scale,
        "seed": given.seed,
        "num_images": given.num_images,
        "scheduler": given.scheduler,
        "refine_prompt": given.refine_prompt,
        "style": given.style,
        "previews": given.previews,
        "model": given.model,
    }
