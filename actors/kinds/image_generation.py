"""Text-to-image with diffusers: one queue per model, since loading one costs
gigabytes and seconds. Image-to-image and inpainting run on the same loaded weights
(`weights_of` this kind) and so on the same queues."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

from actors.kinds.spec import KindSpec, LoadContext
from actors.records import TaskKind
from pipelines.diffusion_models import DEFAULT_MODELS
from pipelines.pipeline import Pipeline
from pipelines.text_to_image import TextToImage, TextToImageParams

if TYPE_CHECKING:
    from actors.config import JobSettings
    from pipelines.diffusion import StableDiffusion

P = TypeVar("P")

QUEUE = "image_generation"
# Where a diffusion run's progress stands as each stage begins and ends.
DIFFUSION_STAGES = {
    "decoding input": (0.03, 0.04),
    "refining prompt": (0.04, 0.05),
    "denoising": (0.05, 0.9),
    "decoding": (0.92, 0.92),
}


def catalog(settings: JobSettings) -> dict[str, str]:
    return {**DEFAULT_MODELS, **settings.image_models}


def load_weights(context: LoadContext, model: str) -> StableDiffusion:
    from pipelines.diffusion import StableDiffusion

    return StableDiffusion.load(
        model, context.models, catalog=catalog(context.settings), device=context.device
    )


def _text_to_image(weights: StableDiffusion) -> TextToImage:
    return TextToImage(weights)


def diffusion_spec(
    kind: TaskKind,
    params: type[P],
    bind: Callable[[StableDiffusion], Pipeline[P]],
    inputs: tuple[str, ...] = (),
    batch_key: Callable[[P], Hashable] | None = None,
) -> KindSpec[P]:
    """The spec of a kind that runs on the text-to-image weights and queues."""
    return KindSpec(
        kind=kind,
        queue=QUEUE,
        time_limit=600,
        params=params,
        stages=DIFFUSION_STAGES,
        default_model=lambda settings: settings.default_image_model,
        known_models=catalog,
        load=load_weights,
        bind=bind,
        weights_of=None if kind is TaskKind.IMAGE_GENERATION else TaskKind.IMAGE_GENERATION,
        inputs=inputs,
        queue_per_model=True,
        batch_key=batch_key,
    )


SPEC = diffusion_spec(
    TaskKind.IMAGE_GENERATION,
    TextToImageParams,
    _text_to_image,
    batch_key=TextToImage.batch_key,
)
