"""BACKGROUND_REMOVAL: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import strawberry

from actors.interface import TaskKind
from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import Submission, checked_image


@strawberry.input
class BackgroundRemovalInput:
    image: str = strawberry.field(description="Base64 or data: URL; PNG, JPEG or WebP.")
    model: str | None = None
    alpha_matting: bool = False
    only_mask: bool = False


def parse(given: BackgroundRemovalInput, limits: InputLimits) -> Submission:
    at = "input.backgroundRemoval."
    known = limits.models.get(TaskKind.BACKGROUND_REMOVAL, frozenset())
    if given.model is not None and given.model not in known:
        raise BadUserInput(
            f"unknown model {given.model!r}; available: {', '.join(sorted(known))}",
            at + "model",
        )
    image = checked_image(given.image, at + "image", limits)
    return Submission(
        TaskKind.BACKGROUND_REMOVAL,
        {"alpha_matting": given.alpha_matting, "only_mask": given.only_mask, "model": given.model},
        {"image": image},
        {"image": at + "image"},
    )
