"""How a pipeline reports progress, and how its caller stops it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL.Image import Image


@dataclass(frozen=True, slots=True)
class Progress:
    """One report from a running pipeline.

    `step`/`total_steps` are set for step-wise stages (denoising); `preview` is a
    small RGB approximation of the current result when previews were asked for.
    """

    stage: str
    step: int | None = None
    total_steps: int | None = None
    preview: Image | None = None


# Called at each stage change and step. Raising `pipelines.errors.Cancelled`
# from it stops the run there; any other exception propagates unchanged.
ProgressCallback = Callable[[Progress], None]

# A batch's reports at one step, all at once: (job index, event) pairs, at most one per
# job; returns, for each pair in order, the exception that ends that job (a
# `ProgressCallback` would have raised it) or None. For callers that can report many
# jobs for the price of one (one round trip to a store rather than one per job).
BatchProgress = Callable[[Sequence[tuple[int, Progress]]], Sequence[BaseException | None]]


def ignore_progress(_: Progress) -> None:
    """A callback for callers that do not follow progress."""
