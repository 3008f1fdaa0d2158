"""What every pipeline returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from PIL.Image import Image

from pipelines.images import encode_png


class Output:
    """A finished result: PNG images plus what a client needs to describe or reproduce it.

    A pipeline that makes several images at once (`numImages`) returns the first as
    `png` and the others, in order and of the same size, as `extra_pngs`; `seeds`
    then holds one seed per image (seeds[0] == seed), each reproducing its image alone.

    A pipeline may give its images as `images` rather than PNG bytes: they are then
    encoded the first time `png`, `extra_pngs` or `pngs` is read, and the time that
    took is added to `metadata["timings"]` as `encodeMs`. So a worker encodes a
    result beside the next run's pipeline call rather than on the accelerator's
    path (actors.worker.finisher).
    """

    content_type = "image/png"

    def __init__(
        self,
        png: bytes | None = None,
        width: int = 0,
        height: int = 0,
        metadata: dict[str, Any] | None = None,
        seed: int | None = None,
        prompt_used: str | None = None,
        negative_prompt_used: str | None = None,
        extra_pngs: Sequence[bytes] = (),
        seeds: Sequence[int] = (),
        *,
        images: Sequence[Image] = (),
    ) -> None:
        if (png is None) == (not images):
            raise ValueError("an Output holds either PNG bytes or images to encode")
        self.width = width
        self.height = height
        self.metadata = {} if metadata is None else metadata
        self.seed = seed
        self.prompt_used = prompt_used
        self.negative_prompt_used = negative_prompt_used
        self.seeds = tuple(seeds)
        self._pngs = None if png is None else (png, *extra_pngs)
        self._images = tuple(images)
        self._encoding = threading.Lock()

    @property
    def pngs(self) -> tuple[bytes, ...]:
        """Every image's PNG bytes, in order (encoded on first use)."""
        with self._encoding:
            if self._pngs is None:
                started = time.perf_counter()
                self._pngs = tuple(encode_png(image) for image in self._images)
                self._images = ()
                timings = self.metadata.get("timings")
                if isinstance(timings, dict):
                    timings["encodeMs"] = round((time.perf_counter() - started) * 1000, 2)
            return self._pngs

    @property
    def png(self) -> bytes:
        return self.pngs[0]

    @property
    def extra_pngs(self) -> tuple[bytes, ...]:
        return self.pngs[1:]
