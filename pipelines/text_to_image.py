"""Text-to-image: a prompt and a size in, `num_images` pictures out (pipelines.diffusion)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.diffusion import OnStableDiffusion
from pipelines.diffusion_models import DEFAULT_MODELS
from pipelines.diffusion_params import DiffusionParams
from pipelines.errors import InvalidParameters
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import ProgressCallback, ignore_progress
from pipelines.timing import Timings

__all__ = ["DEFAULT_MODELS", "TextToImage", "TextToImageParams"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextToImageParams(DiffusionParams):
    width: int = 512
    height: int = 512


class TextToImage(OnStableDiffusion):
    """Text-to-image over loaded Stable Diffusion weights, which other kinds may share."""

    @property
    def pipe(self) -> Any:
        """The diffusers pipeline this runs (for benchmarks comparing the bare call)."""
        return self.diffusion.pipe_for("text-to-image")

    def run(
        self, params: TextToImageParams, progress: ProgressCallback = ignore_progress
    ) -> Output:
        """Generate `params.num_images` images. `progress` may raise `Cancelled` to stop
        at the next step."""
        for field, value in (("width", params.width), ("height", params.height)):
            if value < 8 or value % 8:
                raise InvalidParameters(f"{field} must be a positive multiple of 8", field=field)
        size = (params.width, params.height)
        return self.diffusion.generate(
            "text-to-image", params, size, {}, progress, timings=Timings()
        )


# mypy checks that the class meets the shared contract.
_PIPELINE: type[Pipeline[TextToImageParams]] = TextToImage
