"""Image bytes for tests of decoding: hostile (JPEG scan bombs, corrupt EXIF) and
unusual but legitimate (16-bit greyscale, non-Adobe CMYK)."""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
from PIL import Image

JPEG_SOS = b"\xff\xda"
JPEG_EOI = b"\xff\xd9"


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def progressive_jpeg(side: int = 4000, mode: str = "RGB") -> bytes:
    """A flat `side`x`side` progressive JPEG: every scan after the first is a few bytes."""
    colours: dict[str, float | tuple[float, ...]] = {"L": 120, "CMYK": (10, 20, 30, 40)}
    colour = colours.get(mode, (90, 140, 200))
    return encoded(Image.new(mode, (side, side), colour), "JPEG", progressive=True, quality=90)


def with_last_scan_repeated(data: bytes, times: int, *, ended: bool = True) -> bytes:
    """`data` (a progressive JPEG) with its last scan repeated `times` more times.

    libjpeg decodes every scan over the whole image and only warns that the
    progression is inconsistent, so each repeat of a 31-byte refinement scan costs
    as much as a real one. Without the end marker (`ended=False`) the decoder still
    runs every scan, then finds the file truncated.
    """
    assert data.endswith(JPEG_EOI)
    scan = data[data.rfind(JPEG_SOS) : -len(JPEG_EOI)]
    return data[: -len(JPEG_EOI)] + scan * times + (JPEG_EOI if ended else b"")


def scan_bomb(repeats: int = 3000) -> bytes:
    """The 16 MP progressive JPEG whose last scan is repeated: ~190 KB, ~45 s to decode."""
    return with_last_scan_repeated(progressive_jpeg(), repeats)


def costly_jpeg(scans: int = 24) -> bytes:
    """Within every limit (16 MP, `scans` scans) and as slow to decode as that allows,
    but truncated: the decoder runs every scan, then the image is refused."""
    base = progressive_jpeg()
    return with_last_scan_repeated(base, scans - base.count(JPEG_SOS), ended=False)


def gradient_png(side: int = 4000) -> bytes:
    """A 16 MP RGB PNG of smooth gradients: ~60 KB that decode to 48 MB."""
    y, x = np.mgrid[0:side, 0:side]
    pixels = np.stack([x * 255 // (side - 1), y * 255 // (side - 1), (x + y) % 256], -1)
    return encoded(Image.fromarray(pixels.astype(np.uint8)), "PNG")


def jpeg_with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """`data` (a JPEG) with one more segment right after its start marker."""
    segment = struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def without_adobe_marker(data: bytes) -> bytes:
    """`data` (a JPEG) without its APP14 "Adobe" segment."""
    at = data.index(b"\xff\xee")
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    assert data[at + 4 : at + 9] == b"Adobe"
    return data[:at] + data[at + 2 + length :]


# -- corrupt EXIF ----------------------------------------------------------------------

# TIFF field types.
_ASCII, _SHORT, _UNDEFINED, _FLOAT = 2, 3, 7, 11

# Each: an orientation that needs turning, and one field of the wrong type. Pillow
# reads them, then fails to write the EXIF back (ImageOps.exif_transpose drops the
# orientation from it), each with an exception of another type.
CORRUPT_EXIF = {
    "x-resolution-as-text": (3, 0x011A, _ASCII),  # TypeError
    "resolution-unit-as-bytes": (8, 0x0128, _UNDEFINED),  # struct.error
    "software-as-float": (6, 0x0131, _FLOAT),  # AttributeError
}


def exif_block(orientation: int, tag: int, kind: int, value: bytes = b"\xc3\xe1\xcf\x3c") -> bytes:
    """A little-endian TIFF header and one IFD: the orientation, then `tag` typed `kind`."""
    entries = [
        struct.pack("<HHIHH", 0x0112, _SHORT, 1, orientation, 0),
        struct.pack("<HHI", tag, kind, 1) + value,
    ]
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + b"\0\0\0\0"


def with_exif(fmt: str, exif: bytes, size: tuple[int, int] = (16, 16)) -> bytes:
    """A small red PNG, JPEG or WebP carrying `exif` (a TIFF block) as its EXIF."""
    image = Image.new("RGB", size, "red")
    if fmt == "JPEG":
        return jpeg_with_segment(encoded(image, "JPEG"), 0xE1, b"Exif\x00\x00" + exif)
    return encoded(image, fmt, exif=exif)
