"""IMAGE_TO_IMAGE and INPAINTING: edits of a picture, on the text-to-image weights
and queues (see image_generation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.kinds.image_generation import diffusion_spec
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


IMAGE_TO_IMAGE = diffusion_spec(
    TaskKind.IMAGE_TO_IMAGE, ImageToImageParams, _image_to_image, inputs=("image",)
)
INPAINTING = diffusion_spec(
    TaskKind.INPAINTING, InpaintingParams, _inpainting, inputs=("image", "mask")
)
