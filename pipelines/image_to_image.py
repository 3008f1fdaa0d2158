"""Image-to-image and inpainting: a picture (and, to inpaint, a mask) in, `num_images`
pictures of the picture's size out, over the text-to-image weights (pipelines.diffusion).

The output is the input's size rounded to a multiple of 8, scaled down to fit within
`max_side` and up to `min_side` where it must (metadata says when it was resized).
Inpainting repaints where the mask is white and gives back every pixel where it is
black exactly as the (size-rounded) input had it: the result is composited over the
input after decoding, as A1111 does, since the VAE round trip alters every pixel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pipelines.diffusion import Finish, OnStableDiffusion, StableDiffusion
from pipelines.diffusion_params import DiffusionParams, denoising_steps
from pipelines.errors import InvalidParameters
from pipelines.images import ImageLimits, decode_image
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import Progress, ProgressCallback, ignore_progress
from pipelines.timing import Timings


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageToImageParams(DiffusionParams):
    image: bytes
    strength: float = 0.6  # 0 < strength <= 1: how far from the input
    min_side: int = 64
    max_side: int = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class InpaintingParams(ImageToImageParams):
    mask: bytes  # white = repaint, black = keep; the image's size
    strength: float = 1.0


def output_size(size: tuple[int, int], min_side: int, max_side: int) -> tuple[int, int]:
    """`size` scaled (keeping its shape) to fit `min_side`..`max_side`, each side then
    rounded to the nearest multiple of 8 within the bounds."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    if min(width, height) * scale < min_side:
        scale = min_side / min(width, height)  # a very thin picture is then clamped below

    def side(value: float) -> int:
        return min(max_side // 8 * 8, max(-(-min_side // 8) * 8, round(value / 8) * 8))

    return side(width * scale), side(height * scale)


class _Editor(OnStableDiffusion):
    """What both editing pipelines share: decoding the input, strength, the edit run."""

    def __init__(self, diffusion: StableDiffusion, limits: ImageLimits | None = None) -> None:
        super().__init__(diffusion)
        self._limits = limits or ImageLimits()

    def _edit(
        self,
        mode: str,
        params: ImageToImageParams,
        progress: ProgressCallback,
        masking: Masking | None = None,
    ) -> Output:
        if not 0 < params.strength <= 1:
            raise InvalidParameters("strength must be above 0 and at most 1", field="strength")
        if denoising_steps(params.steps, params.strength) < 1:
            raise InvalidParameters(
                "steps x strength must be at least 1: no step would run", field="strength"
            )
        timings = Timings()
        progress(Progress("decoding input"))
        with timings.phase("decodeInput"):
            given = decode_image(params.image, limits=self._limits, field="image").convert("RGB")
            size = output_size(given.size, params.min_side, params.max_side)
            image = given if given.size == size else given.resize(size, Image.Resampling.LANCZOS)
            call, finish = masking(given.size, image) if masking else ({}, None)
        return self.diffusion.generate(
            mode,
            params,
            size,
            {"image": image, "strength": params.strength, **call},
            progress,
            timings=timings,
            finish=finish,
            metadata={
                "strength": params.strength,
                "inputSize": list(given.size),
                "resized": given.size != size,
            },
        )


# (the input's size as given, the picture as it goes in) -> inpainting's call
# arguments and the step after decoding.
Masking = Callable[[tuple[int, int], Image.Image], tuple[dict[str, Any], Finish]]


class ImageToImage(_Editor):
    """Image-to-image over loaded Stable Diffusion weights, shared with text-to-image."""

    def run(
        self, params: ImageToImageParams, progress: ProgressCallback = ignore_progress
    ) -> Output:
        return self._edit("image-to-image", params, progress)


class Inpainting(_Editor):
    """Inpainting over the same weights: repaints the mask's white, keeps its black."""

    def run(self, params: InpaintingParams, progress: ProgressCallback = ignore_progress) -> Output:
        def masking(given: tuple[int, int], image: Image.Image) -> tuple[dict[str, Any], Finish]:
            mask = decode_image(params.mask, limits=self._limits, field="mask").convert("L")
            if mask.size != given:
                raise InvalidParameters(
                    f"the mask is {mask.size[0]}x{mask.size[1]}, the image "
                    f"{given[0]}x{given[1]}: they must be the same size",
                    field="mask",
                )
            if mask.size != image.size:
                mask = mask.resize(image.size, Image.Resampling.NEAREST)
            if mask.getextrema()[1] == 0:
                raise InvalidParameters("the mask is all black: nothing to repaint", field="mask")

            def keep_unmasked(images: list[Image.Image]) -> list[Image.Image]:
                return [Image.composite(made.convert("RGB"), image, mask) for made in images]

            return {"mask_image": mask}, keep_unmasked

        return self._edit("inpainting", params, progress, masking)


# mypy checks that the classes meet the shared contract.
_IMAGE_TO_IMAGE: type[Pipeline[ImageToImageParams]] = ImageToImage
_INPAINTING: type[Pipeline[InpaintingParams]] = Inpainting
