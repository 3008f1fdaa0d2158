"""The errors a pipeline raises, each with the code a task reports when it fails."""

from __future__ import annotations


class PipelineError(Exception):
    """A failure the caller can explain to a user; `code` names the cause."""

    code = "PIPELINE_ERROR"

    def __init__(
        self, message: str, *, field: str | None = None, public_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # The input the error is about (e.g. "sourceImage"), where there is one.
        self.field = field
        # What a remote user may read; `message` can hold server paths for operators.
        self.public_message = public_message or message


class Cancelled(Exception):
    """Raised by a progress callback to stop a run at the next step."""


class ModelNotAvailable(PipelineError):
    code = "MODEL_NOT_AVAILABLE"


class UnknownModel(PipelineError):
    code = "UNKNOWN_MODEL"


class InvalidImage(PipelineError):
    code = "INVALID_IMAGE"


class ImageTooLarge(InvalidImage):
    code = "IMAGE_TOO_LARGE"


class ImageTooComplex(InvalidImage):
    """Costlier to decode than its size says: too many JPEG scans, or too slow."""

    code = "IMAGE_TOO_COMPLEX"


class InvalidParameters(PipelineError):
    code = "INVALID_PARAMETERS"


class NoFaceFound(PipelineError):
    code = "NO_FACE_FOUND"


class FaceIndexOutOfRange(PipelineError):
    code = "FACE_INDEX_OUT_OF_RANGE"
