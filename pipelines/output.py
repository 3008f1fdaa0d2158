"""What every pipeline returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Output:
    """A finished result: PNG bytes plus what a client needs to describe or reproduce it.

    A pipeline that makes several images at once (`numImages`) returns the first as
    `png` and the others, in order and of the same size, as `extra_pngs`; `seeds`
    then holds one seed per image (seeds[0] == seed), each reproducing its image alone.
    """

    png: bytes
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    prompt_used: str | None = None
    negative_prompt_used: str | None = None
    extra_pngs: tuple[bytes, ...] = ()
    seeds: tuple[int, ...] = ()

    content_type = "image/png"
