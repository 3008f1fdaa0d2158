"""What a Stable Diffusion run is asked for, and the checks and seeds every diffusion
kind shares (pipelines.diffusion runs it)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.errors import InvalidParameters
from pipelines.lora import Lora, check_loras, loras_of
from pipelines.schedulers import check_scheduler

MAX_SEED = 2**31 - 1  # seeds travel as GraphQL Int (signed 32-bit)
MAX_IMAGES = 100  # what one call may make; ATELIER_MAX_IMAGES (at most this) bounds the API


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffusionParams:
    """What every Stable Diffusion task takes."""

    prompt: str
    negative_prompt: str | None = None
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = None
    num_images: int = 1
    scheduler: str | None = None  # a name of pipelines.schedulers.SCHEDULERS
    refine_prompt: bool = True
    style: str | None = None
    previews: bool = False
    # A preview at most every this many steps; None picks about eight per run.
    preview_every: int | None = None
    # Adapters from the model store's lora/ folder; a task's stored params hold
    # {"name", "scale"} dicts, which count as `Lora`s.
    loras: Sequence[Lora | Mapping[str, Any]] = ()


def shared_call_key(params: DiffusionParams) -> tuple[Any, ...]:
    """What runs that share one call must agree on: steps, guidance, scheduler and
    LoRA set. Prompts, negatives, seeds, image counts and previews may differ."""
    loras = sorted((lora.name, lora.scale) for lora in loras_of(params.loras))
    return (params.steps, params.guidance_scale, params.scheduler or "", tuple(loras))


def seeds_for(seed: int | None, count: int) -> list[int]:
    """One seed per image: from `seed` (a random one when none was given) on, one
    apart, wrapping within the seed range, as A1111 numbers a batch."""
    first = secrets.randbelow(MAX_SEED + 1) if seed is None else seed
    return [(first + index) % (MAX_SEED + 1) for index in range(count)]


def denoising_steps(steps: int, strength: float | None) -> int:
    """The steps a run will take: image-to-image starts `strength` of the way along."""
    return steps if strength is None else min(int(steps * strength), steps)


def check_common(params: DiffusionParams) -> None:
    if params.steps < 1:
        raise InvalidParameters("steps must be at least 1", field="steps")
    if params.seed is not None and not 0 <= params.seed <= MAX_SEED:
        raise InvalidParameters(f"seed must be between 0 and {MAX_SEED}", field="seed")
    if not 1 <= params.num_images <= MAX_IMAGES:
        raise InvalidParameters(f"numImages must be from 1 to {MAX_IMAGES}", field="numImages")
    check_scheduler(params.scheduler)
    check_loras(loras_of(params.loras))
