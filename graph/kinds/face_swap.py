"""FACE_SWAP: its GraphQL input, and how it becomes a submission."""

from __future__ import annotations

import strawberry

from actors.interface import TaskKind
from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import Submission, checked_image


@strawberry.input
class FaceSwapInput:
    source_image: str = strawberry.field(description="The face to put in.")
    target_image: str = strawberry.field(description="The picture to put it into.")
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
        {
            "source_image": checked_image(given.source_image, at + "sourceImage", limits),
            "target_image": checked_image(given.target_image, at + "targetImage", limits),
        },
        {"source_image": at + "sourceImage", "target_image": at + "targetImage"},
    )
