"""The codes a task's error can carry, as an enum typed clients can switch on.

Pipelines raise them (`pipelines.errors`, each class its `code`), the worker and the
store add their own. `code_of` reads a record's code; one this version does not know
(a newer worker's, during a rolling deploy) has none. tests/actors/test_vocabulary.py
fails when code raises or writes a code this module does not name.
"""

from __future__ import annotations

import enum


class TaskErrorCode(enum.Enum):
    # Raised by a pipeline (pipelines/errors.py).
    PIPELINE_ERROR = "PIPELINE_ERROR"
    MODEL_NOT_AVAILABLE = "MODEL_NOT_AVAILABLE"
    UNKNOWN_MODEL = "UNKNOWN_MODEL"
    INVALID_IMAGE = "INVALID_IMAGE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    IMAGE_TOO_COMPLEX = "IMAGE_TOO_COMPLEX"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    NO_FACE_FOUND = "NO_FACE_FOUND"
    FACE_INDEX_OUT_OF_RANGE = "FACE_INDEX_OUT_OF_RANGE"
    # Written by the job system.
    CANCELLED = "CANCELLED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    TIMEOUT = "TIMEOUT"
    WORKER_LOST = "WORKER_LOST"
    ENQUEUE_FAILED = "ENQUEUE_FAILED"


def code_of(text: str | None) -> TaskErrorCode | None:
    try:
        return TaskErrorCode(text) if text else None
    except ValueError:
        return None
