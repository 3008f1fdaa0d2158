"""BACKGROUND_REMOVAL: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from actors.interface import TaskKind
from graph.errors import BadUserInput
from graph.imagesources import FILE, FROM_TASK, FROM_TASK_IMAGE, image_inputs
from graph.limits import InputLimits
from graph.validation import Submission


@strawberry.input
class BackgroundRemovalInput:
    image: str | None = strawberry.field(
        default=None, description="Base64 or data: URL; PNG, JPEG or WebP."
    )
    image_file: Upload | None = strawberry.field(default=None, description=FILE)
    image_from_task: strawberry.ID | None = strawberry.field(default=None, description=FROM_TASK)
    image_from_task_image: int | None = strawberry.field(default=None, description=FROM_TASK_IMAGE)
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
    return Submission(
        TaskKind.BACKGROUND_REMOVAL,
        {"alpha_matting": given.alpha_matting, "only_mask": given.only_mask, "model": given.model},
        **image_inputs(given, ["image"], at, limits),
    )
