"""Untrusted image bytes in, the picture a person sees out; results encoded as PNG.

Two steps, so a server can refuse before it spends anything. `read_header` looks at
the bytes only (format, size, progressive JPEG scans): no decoder runs and no
chunk is decompressed. `decode_image` checks the header, then decodes under a time
bound and turns whatever mode Pillow opened into upright 8-bit RGB or RGBA.
"""

from __future__ import annotations

import io
import re
import struct
import time
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from pipelines.errors import ImageTooComplex, ImageTooLarge, InvalidImage, PipelineError

# Checked by content, never by name: these are the only decoders Pillow may try.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 16_000_000
    # A progressive JPEG decodes in scans, each a pass over the whole image, so its
    # cost grows with the scan count, not its bytes: a repeated 31-byte scan costs
    # 15-30 ms at 16 MP, and 3,000 of them 45 s. libjpeg's progression (Pillow,
    # most tools) writes 6 scans for greyscale, 10 for colour, 18 for CMYK; mozjpeg
    # and Photoshop fewer. 24 keeps them all, and its worst 16 MP case decodes in
    # 0.6 s, against 0.4 s for a 16 MP photo with 10 scans.
    max_jpeg_scans: int = 24
    # Seconds a decode may take (None: unbounded). Checked between blocks of input.
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the bytes say about themselves, read without decoding anything."""

    format: str  # one of ACCEPTED_FORMATS
    width: int
    height: int
    scans: int = 1  # JPEG: start-of-scan markers in the first image


def read_header(
    data: bytes, *, limits: ImageLimits = ImageLimits(), field: str | None = None
) -> ImageHeader:
    """The header of PNG, JPEG or WebP bytes, within `limits` (bytes, pixels, JPEG scans).

    Costs one pass over the bytes in C at most: safe to run before a caller is
    admitted. Raises `InvalidImage`, `ImageTooLarge` or `ImageTooComplex` naming `field`.
    """
    if not data:
        raise InvalidImage("the image is empty", field=field)
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"the image is {len(data)} bytes; at most {limits.max_bytes} are accepted",
            field=field,
        )
    if data.startswith(_PNG_SIGNATURE):
        header = _png_header(data)
    elif data.startswith(b"\xff\xd8\xff"):
        header = _jpeg_header(data, stop_after=limits.max_jpeg_scans)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        header = _webp_header(data)
    else:
        raise InvalidImage("the image is not a PNG, JPEG or WebP file", field=field)
    if header is None:
        raise InvalidImage("the image could not be read", field=field)
    _check_size(header.width, header.height, limits, field)
    if header.scans > limits.max_jpeg_scans:
        raise ImageTooComplex(
            f"the JPEG has more than {limits.max_jpeg_scans} scans (a progressive JPEG "
            "usually has 10); it is not accepted",
            field=field,
        )
    return header


def decode_image(
    data: bytes, *, limits: ImageLimits = ImageLimits(), field: str | None = None
) -> Image.Image:
    """Decode PNG, JPEG or WebP bytes into the upright 8-bit RGB (or RGBA, where the
    image has alpha) picture a person sees; see `as_seen`.

    The header is checked first (`read_header`), so a decompression bomb costs
    nothing. Raises `InvalidImage` naming `field`: `ImageTooLarge` or
    `ImageTooComplex` past `limits`, the latter also for a decode slower than
    `limits.max_seconds`.
    """
    header = read_header(data, limits=limits, field=field)
    deadline = None if limits.max_seconds is None else time.monotonic() + limits.max_seconds
    try:
        with warnings.catch_warnings():
            # Corrupt metadata makes Pillow warn and go on; bombs are ours to refuse.
            warnings.filterwarnings("ignore", module=r"PIL\.")
            image = Image.open(_Timed(data, deadline), formats=[header.format])
            _check_size(*image.size, limits, field)
            image.decodermaxblock = _BLOCK  # how often the deadline is checked
            image.load()
            _Timed.check(deadline)
            upright = _upright(_undo_adobe_assumption(image), field)
            return as_seen(upright)
    except (PipelineError, MemoryError):
        raise
    except _TooSlow:
        raise ImageTooComplex(
            f"the image took more than {limits.max_seconds:g} s to decode; it is not accepted",
            field=field,
        ) from None
    except Exception:  # Pillow raises many types for bad bytes; none is a bug of ours
        raise InvalidImage("the image is truncated or corrupt", field=field) from None


def as_seen(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB, or RGBA when it has alpha, looking as it should.

    16-bit greyscale is scaled by its bit depth, 32-bit integer and float by their
    range (floats within 0..1 by that range): never clipped. Alpha is kept, be it
    a band (LA, PA, RGBA, premultiplied La and RGBa) or a transparent colour or
    palette entry. CMYK is converted as (1 - C)(1 - K), without a colour profile.
    """
    mode = image.mode
    if mode == "RGBA" or (mode == "RGB" and "transparency" not in image.info):
        return image
    if mode.startswith("I") or mode == "F":
        return _deep_grey(image)
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode == "La":  # Pillow converts premultiplied alpha only from RGBa
        grey, alpha = image.split()
        return Image.merge("RGBa", (grey, grey, grey, alpha)).convert("RGBA")
    palette_alpha = mode == "P" and image.palette is not None and "A" in image.palette.mode
    has_alpha = mode in ("LA", "PA", "RGBa") or "transparency" in image.info or palette_alpha
    return image.convert("RGBA" if has_alpha else "RGB")


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of `image`.

    Level 1: results live an hour in Redis, and against the default level 6 it
    encodes a 512px photo 3x faster for a file about 10% larger.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# -- headers -----------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# How libjpeg finds a marker: any fill bytes (0xFF), then a code. In entropy-coded
# data every 0xFF is followed by a stuffed 0x00, so a search from the end of a
# scan's header lands on the next real marker: scans inside an EXIF thumbnail
# (skipped by its segment's length) or after the end of the image are not counted.
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xff])")
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # not DHT, JPG, DAC
_JPEG_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7
_JPEG_EOI, _JPEG_SOS = 0xD9, 0xDA


def _png_header(data: bytes) -> ImageHeader | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("PNG", width, height)


def _jpeg_header(data: bytes, *, stop_after: int) -> ImageHeader | None:
    size: tuple[int, int] | None = None
    scans, at = 0, 2
    while scans <= stop_after and (marker := _JPEG_MARKER.search(data, at)) is not None:
        code, at = marker.group(1)[0], marker.end()
        if code == _JPEG_EOI:
            break
        if code in _JPEG_NO_LENGTH:
            continue
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2:
            return None
        if code in _JPEG_SOF and size is None and length >= 7 and at + 7 <= len(data):
            height, width = struct.unpack(">HH", data[at + 3 : at + 7])
            size = (width, height)
        scans += code == _JPEG_SOS
        at += length
    return None if size is None else ImageHeader("JPEG", *size, scans=scans)


def _webp_header(data: bytes) -> ImageHeader | None:
    chunk, body = data[12:16], data[20:30]
    if len(body) < 10:
        return None
    if chunk == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":  # lossy: 14-bit sizes
        width, height = struct.unpack("<HH", body[6:10])
        return ImageHeader("WEBP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and body[0] == 0x2F:  # lossless: 14-bit sizes minus one
        bits = int.from_bytes(body[1:5], "little")
        return ImageHeader("WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":  # extended: the canvas, 24-bit sizes minus one
        width = int.from_bytes(body[4:7], "little") + 1
        return ImageHeader("WEBP", width, int.from_bytes(body[7:10], "little") + 1)
    return None


def _check_size(width: int, height: int, limits: ImageLimits, field: str | None) -> None:
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels", field=field)
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; at most {limits.max_pixels} pixels "
            "are accepted",
            field=field,
        )


# -- decoding ------------------------------------------------------------------------

# Pillow's decoders (PNG, JPEG) are fed this much input at a time; the deadline is
# checked before each block. 1 KiB holds a few dozen scans of a hostile JPEG (refused past
# `max_jpeg_scans` anyway); smaller blocks slow a normal 16 MP JPEG, larger do not speed it up.
_BLOCK = 1024


class _TooSlow(Exception):
    pass


class _Timed(io.BytesIO):
    """The image's bytes; every read past the deadline raises `_TooSlow`.

    Pillow pulls input block by block while it decodes PNG and JPEG, so a slow
    decode stops within one block of work. WebP decodes in one call: its cost is
    bounded by the pixel limit, and it is checked once it returns.
    """

    def __init__(self, data: bytes, deadline: float | None) -> None:
        super().__init__(data)
        self._deadline = deadline

    def read(self, size: int | None = -1, /) -> bytes:
        self.check(self._deadline)
        return super().read(size)

    @staticmethod
    def check(deadline: float | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise _TooSlow


def _undo_adobe_assumption(image: Image.Image) -> Image.Image:
    """Pillow reads every CMYK JPEG as Adobe's inverted CMYK; only one with an Adobe
    marker is (Photoshop's and libjpeg's are), so invert the others back."""
    if image.format == "JPEG" and image.mode == "CMYK" and "adobe" not in image.info:
        return image.point(lambda value: 255 - value)
    return image


def _upright(image: Image.Image, field: str | None) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # getexif and exif_transpose raise many types for bad EXIF
        raise InvalidImage("the image's EXIF metadata is corrupt", field=field) from None


def _deep_grey(image: Image.Image) -> Image.Image:
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        grey = values / 257  # 65535 -> 255, and 257 * v back to v
    else:
        numbers = np.nan_to_num(values.astype(np.float64), posinf=0.0, neginf=0.0)
        low, high = float(numbers.min()), float(numbers.max())
        if image.mode == "F" and low >= 0 and high <= 1:
            low, high = 0.0, 1.0
        grey = (numbers - low) * (255 / (high - low)) if high > low else np.clip(numbers, 0, 255)
    picture = Image.fromarray(np.rint(grey).astype(np.uint8), "L")
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):  # PNG tRNS: one grey value is transparent
        alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
        return Image.merge("RGBA", (picture, picture, picture, Image.fromarray(alpha, "L")))
    return picture.convert("RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    cmyk = np.asarray(image, dtype=np.uint32)
    white = 255 - cmyk
    rgb = (white[..., :3] * white[..., 3:] + 127) // 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB")
