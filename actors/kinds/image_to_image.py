"""IMAGE_TO_IMAGE and INPAINTING: edits of a picture, on the text-to-image weights
and queues (see image_generation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.kinds.image_generation import DIFFUSION_STAGES, QUEUE, catalog, load_weights
from actors.kinds.spec import KindSpec
from actors.records import TaskKind
from pipelines.image_to_image import ImageToImageParams, InpaintingParams

if TYPE_CHECKING:
    from pipelines.diffusion import StableDiffusion
    from pipelines.image_to_image import ImageToImage, Inpainting


def _image_to_image(weights: StableDiffusion) -> ImageToImage:
    from pipelines.image_to_image import ImageToImage

    return ImageToImage(weights)


def _inpainting(weights: StableDiffusion) -> Inpainting:
    from pipelines.image_to_image import Inpainting

    return Inpainting(weights)


IMAGE_TO_IMAGE = KindSpec(
    kind=TaskKind.IMAGE_TO_IMAGE,
    queue=QUEUE,
    time_limit=600,
    params=ImageToImageParams,
    stages=DIFFUSION_STAGES,
    default_model=lambda settings: settings.default_image_model,
    known_models=catalog,
    load=load_weights,
    bind=_image_to_image,
    weights_of=TaskKind.IMAGE_GENERATION,
    inputs=("image",),
    queue_per_model=True,
)

INPAINTING = KindSpec(
    kind=TaskKind.INPAINTING,
    queue=QUEUE,
    time_limit=600,
    params=InpaintingParams,
    stages=DIFFUSION_STAGES,
    default_model=lambda settings: settings.default_image_model,
    known_models=catalog,
    load=load_weights,
    bind=_inpainting,
    weights_of=TaskKind.IMAGE_GENERATION,
    inputs=("image", "mask"),
    queue_per_model=True,
)
