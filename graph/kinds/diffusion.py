"""What the three Stable Diffusion kinds' inputs share, checked once: prompts, steps,
guidance, seed, numImages, scheduler, model, style and LoRAs."""

from __future__ import annotations

import math
from typing import Any, Protocol

import strawberry

from actors.interface import (
    MAX_LORA_SCALE,
    MAX_LORAS,
    MIN_LORA_SCALE,
    SCHEDULERS,
    STYLE_PRESETS,
    TaskKind,
)
from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import MAX_SEED, checked_text

NUM_IMAGES = "1 to ATELIER_MAX_IMAGES (default 4) images in one batched run, one seed each."
SCHEDULER = "A sampler by name: " + ", ".join(SCHEDULERS) + "; null: the model's own."
SEED = "0 .. 2147483647; null picks one, returned in the result (image k: seed + k)."
STYLE = "A prompt style preset: photo, cinematic, illustration, anime, 3d."
LORAS = (
    f"Up to {MAX_LORAS} LoRA adapters of the server's model store, combined, each named "
    "once; null or []: the base model alone."
)
# Names an error lists at most when a LoRA is unknown.
_LISTED = 20


@strawberry.input(description="A LoRA adapter and how strongly it applies.")
class LoraInput:
    name: str = strawberry.field(description="An adapter in the server's model store.")
    scale: float = strawberry.field(
        default=1.0,
        description=f"{MIN_LORA_SCALE:g} .. {MAX_LORA_SCALE:g}: 1 applies it as trained, "
        "0 not at all, below 0 pushes away from it.",
    )


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
    loras: list[LoraInput] | None


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
    loras = lora_params(given.loras, at, limits)
    params: dict[str, Any] = {
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
    if loras:  # none: the params of a task from before LoRAs, which any worker runs
        params["loras"] = loras
    return params


def lora_params(
    given: list[LoraInput] | None, at: str, limits: InputLimits
) -> list[dict[str, Any]]:
    """`given` as stored params (`{"name", "scale"}` each), checked: how many, each
    scale, then each name against the store's listing."""
    if not given:
        return []
    if len(given) > MAX_LORAS:
        raise BadUserInput(f"at most {MAX_LORAS} LoRAs per task", at + "loras")
    for index, lora in enumerate(given):
        if not math.isfinite(lora.scale) or not MIN_LORA_SCALE <= lora.scale <= MAX_LORA_SCALE:
            raise BadUserInput(
                f"a LoRA's scale must be from {MIN_LORA_SCALE:g} to {MAX_LORA_SCALE:g}",
                f"{at}loras.{index}.scale",
            )
    seen: set[str] = set()
    for index, lora in enumerate(given):
        if lora.name not in limits.loras:
            raise BadUserInput(
                f"unknown LoRA {lora.name!r}; available: {_listing(limits.loras)}",
                f"{at}loras.{index}.name",
            )
        if lora.name in seen:
            raise BadUserInput(f"LoRA {lora.name!r} is named twice", f"{at}loras.{index}.name")
        seen.add(lora.name)
    return [{"name": lora.name, "scale": lora.scale} for lora in given]


def _listing(names: frozenset[str]) -> str:
    if not names:
        return "none"
    shown = sorted(names)[:_LISTED]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
