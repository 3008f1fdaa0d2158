"""Decoding untrusted image bytes safely, and encoding results as PNG."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines.errors import ImageTooLarge, InvalidImage

# Checked by content, never by name: Pillow picks the decoder from the magic bytes,
# and these are the only decoders it may try.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 16_000_000


def decode_image(
    data: bytes, *, limits: ImageLimits = ImageLimits(), field: str | None = None
) -> Image.Image:
    """Decode PNG, JPEG or WebP bytes into an upright RGB or RGBA image.

    The pixel count is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing. Raises `InvalidImage` (or `ImageTooLarge`)
    naming `field`.
    """
    if not data:
        raise InvalidImage("the image is empty", field=field)
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"the image is {len(data)} bytes; at most {limits.max_bytes} are accepted",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns or raises on its global limit; ours is below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise InvalidImage("the image is not a PNG, JPEG or WebP file", field=field) from None
    except Image.DecompressionBombError:
        # Pillow's own guard, far above ours, fires on the header alone.
        raise ImageTooLarge(
            f"the image has more than {limits.max_pixels} pixels", field=field
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidImage("the image could not be read", field=field) from None

    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels", field=field)
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; at most {limits.max_pixels} pixels "
            "are accepted",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        raise InvalidImage("the image is truncated or corrupt", field=field) from None

    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    return upright.convert("RGBA" if has_alpha else "RGB")


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of `image`.

    Level 1: results live an hour in Redis, and against the default level 6 it
    encodes a 512px photo 3x faster for a file about 10% larger.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
