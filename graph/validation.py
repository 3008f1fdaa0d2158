"""What every kind's input checks share; each failure names the offending field.

A kind's input (graph.kinds) becomes a `Submission`: the task kind, the pipeline
parameters (named as the pipelines' parameter dataclasses name them) and the input
images' bytes. That costs no more than reading the request: images are checked from
their headers (format, size, JPEG scans). Decoding them (`graph.decoding`) is for a
caller already admitted.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from actors.interface import ImageLimits, InvalidImage, TaskKind, clean_text, read_header
from graph.errors import BadUserInput
from graph.limits import InputLimits

MAX_SEED = 2**31 - 1
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FromTask:
    """An input image to read from a task's result (graph.imagesources)."""

    task_id: str
    index: int
    field: str  # the GraphQL path of the XFromTask field, for its errors


@dataclass(frozen=True, slots=True)
class Submission:
    kind: TaskKind
    params: dict[str, Any]
    inputs: dict[str, bytes]
    # Input name -> the GraphQL path its errors name.
    fields: dict[str, str] = field(default_factory=dict)
    # Input name -> the task whose result it is, until resolved into `inputs`.
    from_tasks: dict[str, FromTask] = field(default_factory=dict)
    # Checks that need the inputs decoded (name -> upright PIL image); raise
    # BadUserInput. Run with the decoding, after admission (graph.decoding).
    vet_decoded: Callable[[dict[str, Any]], None] | None = None


def require_unicode(value: str, field: str) -> str:
    """Strings from JSON may hold lone surrogates, which no UTF-8 store accepts."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadUserInput("must be valid Unicode text (no lone surrogates)", field) from None
    return value


def checked_text(value: str, field: str, limits: InputLimits, *, required: bool) -> str:
    require_unicode(value, field)
    if len(value) > limits.max_prompt_chars:
        raise BadUserInput(f"at most {limits.max_prompt_chars} characters are accepted", field)
    if required and not clean_text(value):
        raise BadUserInput("must not be empty", field)
    return value


def checked_image(text: str, field: str, limits: InputLimits) -> bytes:
    """Base64 (or a data: URL) -> bytes of a PNG, JPEG or WebP whose header is within
    limits; no pixel is decoded (see `decode_inputs`)."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    # Checked before decoding: base64 is 4/3 the size of what it encodes.
    if len(payload) * 3 // 4 > limits.max_image_bytes + 3:
        raise BadUserInput(f"the image is larger than {limits.max_image_bytes} bytes", field)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=_altchars(payload))
    except (binascii.Error, ValueError):
        raise BadUserInput("the image is not valid base64", field) from None
    return checked_bytes(data, field, limits)


@runtime_checkable
class UploadedFile(Protocol):
    """What a file part of a multipart request is read through (Django's UploadedFile,
    as Strawberry's `Upload` hands it over: in memory, or spooled to a temporary file)."""

    size: int | None

    def seek(self, offset: int, /) -> object: ...

    def read(self, size: int = -1, /) -> bytes: ...


def checked_upload(upload: object, field: str, limits: InputLimits) -> bytes:
    """A file part -> its bytes, held to the limits of an inline image; its size is
    checked before it is read."""
    if not isinstance(upload, UploadedFile) or not isinstance(upload.size, int):
        raise BadUserInput(
            "takes a file part of a multipart request (the GraphQL multipart request spec)",
            field,
        )
    if upload.size > limits.max_image_bytes:
        raise BadUserInput(f"the image is larger than {limits.max_image_bytes} bytes", field)
    upload.seek(0)
    return checked_bytes(upload.read(), field, limits)


def checked_bytes(data: bytes, field: str, limits: InputLimits) -> bytes:
    """`data` when it is a PNG, JPEG or WebP whose header is within limits."""
    try:
        read_header(data, limits=image_limits(limits))
    except InvalidImage as error:
        raise BadUserInput(error.message, field) from None
    return data


def _altchars(payload: str) -> bytes | None:
    # URL-safe base64 uses - and _ where the standard alphabet has + and /.
    return b"-_" if ("-" in payload or "_" in payload) else None


def image_limits(limits: InputLimits, *, max_seconds: float | None = None) -> ImageLimits:
    return ImageLimits(
        max_bytes=limits.max_image_bytes,
        max_pixels=limits.max_image_pixels,
        max_jpeg_scans=limits.max_jpeg_scans,
        max_seconds=max_seconds,
    )
