"""FACE_SWAP: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from actors.interface import TaskKind
from graph.errors import BadUserInput
from graph.imagesources import FILE, FROM_TASK, FROM_TASK_IMAGE, image_inputs
from graph.limits import InputLimits
from graph.validation import Submission


@strawberry.input
class FaceSwapInput:
    source_image: str | None = strawberry.field(default=None, description="The face to put in.")
    source_image_file: Upload | None = strawberry.field(default=None, description=FILE)
    source_image_from_task: strawberry.ID | None = strawberry.field(
        default=None, description=FROM_TASK
    )
    source_image_from_task_image: int | None = strawberry.field(
        default=None, description=FROM_TASK_IMAGE
    )
    target_image: str | None = strawberry.field(
        default=None, description="The picture to put it into."
    )
    target_image_file: Upload | None = strawberry.field(default=None, description=FILE)
    target_image_from_task: strawberry.ID | None = strawberry.field(
        default=None, description=FROM_TASK
    )
    target_image_from_task_image: int | None = strawberry.field(
        default=None, description=FROM_TASK_IMAGE
    )
    source_face_index: int = strawberry.field(default=0, description="Faces ordered left to right.")
    target_face_index: int | None = strawberry.field(
        default=None, description="null = every face in the target."
    )


def parse(given: FaceSwapInput, limits: InputLimits) -> Submission:
    at = "input.faceSwap."
    if given.source_face_index < 0:
        raise BadUserInput("sourceFaceIndex must be 0 or more", at + "sourceFaceIndex")
    if given.target_face_index is not None and given.target_face_index < 0:
        raise BadUserInput("targetFaceIndex must be 0 or more", at + "targetFaceIndex")
    return Submission(
        TaskKind.FACE_SWAP,
        {
            "source_face_index": given.source_face_index,
            "target_face_index": given.target_face_index,
        },
        **image_inputs(given, ["source_image", "target_image"], at, limits),
    )
