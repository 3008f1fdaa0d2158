"""Text-to-image: a prompt and a size in, `num_images` pictures out (pipelines.diffusion)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.diffusion import OnStableDiffusion
from pipelines.diffusion_models import DEFAULT_MODELS
from pipelines.diffusion_params import DiffusionParams, shared_call_key
from pipelines.errors import InvalidParameters
from pipelines.output import Output
from pipelines.pipeline import BatchPipeline
from pipelines.progress import BatchProgress, ProgressCallback, ignore_progress
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
        return self.diffusion.generate(
            "text-to-image", params, _size(params), {}, progress, timings=Timings()
        )

    @staticmethod
    def batch_key(params: TextToImageParams) -> Hashable:
        """Runs with equal keys can share one call (`run_batch`)."""
        return (params.width, params.height, *shared_call_key(params))

    def run_batch(
        self,
        jobs: Sequence[tuple[TextToImageParams, ProgressCallback]],
        *,
        exact: bool = True,
        report: BatchProgress | None = None,
    ) -> list[Output | Exception]:
        """Several tasks' runs as one call; their `batch_key`s are equal."""
        try:
            size = _size(jobs[0][0])
        except InvalidParameters as error:
            return [error for _ in jobs]
        return self.diffusion.generate_batch(jobs, size, exact=exact, report=report)


def _size(params: TextToImageParams) -> tuple[int, int]:
    for field, value in (("width", params.width), ("height", params.height)):
        if value < 8 or value % 8:
            raise InvalidParameters(f"{field} must be a positive multiple of 8", field=field)
    return (params.width, params.height)


# mypy checks that the class meets the shared contract.
_PIPELINE: type[BatchPipeline[TextToImageParams]] = TextToImage
