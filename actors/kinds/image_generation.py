"""Text-to-image with diffusers: one queue per model, since loading one costs
gigabytes and seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.kinds.spec import KindSpec, LoadContext
from actors.records import TaskKind
from pipelines.pipeline import Pipeline
from pipelines.text_to_image import DEFAULT_MODELS, TextToImageParams

if TYPE_CHECKING:
    from actors.config import JobSettings


def _catalog(settings: JobSettings) -> dict[str, str]:
    return {**DEFAULT_MODELS, **settings.image_models}


def _load(context: LoadContext, model: str) -> Pipeline[TextToImageParams]:
    from pipelines.text_to_image import TextToImage

    catalog = _catalog(context.settings)
    return TextToImage.load(model, context.models, catalog=catalog, device=context.device)


SPEC = KindSpec(
    kind=TaskKind.IMAGE_GENERATION,
    queue="image_generation",
    time_limit=600,
    params=TextToImageParams,
    stages={
        "refining prompt": (0.03, 0.05),
        "denoising": (0.05, 0.9),
        "decoding": (0.92, 0.92),
    },
    default_model=lambda settings: settings.default_image_model,
    known_models=_catalog,
    load=_load,
    queue_per_model=True,
)
