"""Text-to-image with diffusers: one queue per model, since loading one costs
gigabytes and seconds. Image-to-image and inpainting run on the same loaded weights
(`weights_of` this kind) and so on the same queues."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.kinds.spec import KindSpec, LoadContext
from actors.records import TaskKind
from pipelines.diffusion_models import DEFAULT_MODELS
from pipelines.text_to_image import TextToImageParams

if TYPE_CHECKING:
    from actors.config import JobSettings
    from pipelines.diffusion import StableDiffusion

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


def _text_to_image(weights: StableDiffusion):  # type: ignore[no-untyped-def]
    from pipelines.text_to_image import TextToImage

    return TextToImage(weights)


SPEC = KindSpec(
    kind=TaskKind.IMAGE_GENERATION,
    queue=QUEUE,
    time_limit=600,
    params=TextToImageParams,
    stages=DIFFUSION_STAGES,
    default_model=lambda settings: settings.default_image_model,
    known_models=catalog,
    load=load_weights,
    bind=_text_to_image,
    queue_per_model=True,
)
