"""What every pipeline returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Output:
    """A finished result: PNG bytes plus what a client needs to describe or reproduce it."""

    png: bytes
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    prompt_used: str | None = None
    negative_prompt_used: str | None = None

    content_type = "image/png"
