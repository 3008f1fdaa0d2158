"""A GraphQL client for tests (project.localclient's Api and documents) and test images."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

from project.localclient import CANCEL, GET, PROGRESS, SUBMIT, TASK_FIELDS, Api

__all__ = [
    "CANCEL",
    "GET",
    "PROGRESS",
    "SUBMIT",
    "TASK_FIELDS",
    "Api",
    "image_b64",
    "png_claiming",
    "png_size",
]


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def image_b64(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (valid CRCs) claims `width`x`height`, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
