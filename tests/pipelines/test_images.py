"""Decoding untrusted images: bounded before and while decoding, and turned into the
picture a person sees, checked pixel by pixel."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines import images
from pipelines.errors import ImageTooComplex, ImageTooLarge, InvalidImage
from pipelines.images import ImageLimits, as_seen, decode_image, read_header
from tests.client import png_claiming
from tests.pipelines.imagefiles import (
    CORRUPT_EXIF,
    JPEG_SOS,
    encoded,
    exif_block,
    gradient_png,
    jpeg_with_segment,
    progressive_jpeg,
    scan_bomb,
    with_exif,
    with_last_scan_repeated,
    without_adobe_marker,
)

FIELD = "input.backgroundRemoval.image"


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


# -- headers: read from the bytes alone ----------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options", "mode"),
    [
        ("PNG", {}, "RGB"),
        ("JPEG", {}, "RGB"),
        ("JPEG", {"progressive": True}, "CMYK"),
        ("WEBP", {}, "RGB"),  # lossy: VP8
        ("WEBP", {"lossless": True}, "RGBA"),  # VP8L
        ("WEBP", {"exif": exif_block(1, 0x0131, 2)}, "RGBA"),  # extended: VP8X
    ],
    ids=["png", "jpeg", "jpeg-cmyk-progressive", "webp-lossy", "webp-lossless", "webp-extended"],
)
def test_header_gives_the_size_pillow_reads(fmt: str, options: dict[str, Any], mode: str) -> None:
    data = encoded(Image.new(mode, (123, 45)), fmt, **options)
    header = read_header(data)
    assert (header.format, header.width, header.height) == (fmt, 123, 45)
    assert Image.open(io.BytesIO(data)).size == (123, 45)


@pytest.mark.parametrize(("mode", "scans"), [("L", 6), ("RGB", 10), ("CMYK", 18)])
def test_progressive_jpegs_as_encoders_write_them_are_accepted(mode: str, scans: int) -> None:
    data = progressive_jpeg(64, mode)
    assert read_header(data).scans == scans
    assert decode_image(data).size == (64, 64)


def test_scans_of_an_exif_thumbnail_or_after_the_image_are_not_counted() -> None:
    """Counted as libjpeg reads markers: segments skipped by length, the first image only."""
    thumbnail = progressive_jpeg(16)
    data = jpeg_with_segment(progressive_jpeg(64), 0xE1, b"Exif\x00\x00" + thumbnail)
    data += progressive_jpeg(32)  # e.g. a gain map, after the end of the image
    assert data.count(JPEG_SOS) == 30
    assert read_header(data).scans == 10
    assert decode_image(data).size == (64, 64)


def test_scan_bomb_is_refused_from_its_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = scan_bomb()
    assert len(bomb) < 200_000

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("Pillow was asked to open the image")

    monkeypatch.setattr(images.Image, "open", no_decoding)
    with pytest.raises(ImageTooComplex) as refused:
        decode_image(bomb, field=FIELD)
    assert refused.value.field == FIELD
    assert "scans" in refused.value.message


def test_pixels_are_counted_from_the_header_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(images.Image, "open", None)
    with pytest.raises(ImageTooLarge):
        decode_image(png_claiming(20_000, 1_000))
    with pytest.raises(ImageTooLarge):
        decode_image(progressive_jpeg(64), limits=ImageLimits(max_pixels=64 * 63))


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(20),
        b"\x89PNG\r\n\x1a\n" + bytes(8),
        b"\xff\xd8\xff\xd9",
        b"RIFF0000WEBPVP8X",
    ],
    ids=["gif", "png-without-ihdr", "jpeg-without-frame", "webp-cut-short"],
)
def test_unreadable_headers_are_invalid_images(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        read_header(data)


# -- decoding: bounded in time -------------------------------------------------------


def test_a_decode_slower_than_its_bound_stops_there() -> None:
    """The scan limit lifted, a bomb would take minutes; the bound stops it within a
    small fraction of that, measured here against the same bomb's cost per scan."""
    lifted = ImageLimits(max_jpeg_scans=1_000_000)
    sample = with_last_scan_repeated(progressive_jpeg(), 100)
    started = time.perf_counter()
    decode_image(sample, limits=lifted)
    per_scan = (time.perf_counter() - started) / 110

    bomb = scan_bomb(3000)
    started = time.perf_counter()
    with pytest.raises(ImageTooComplex) as refused:
        decode_image(bomb, limits=ImageLimits(max_jpeg_scans=1_000_000, max_seconds=0.2))
    took = time.perf_counter() - started
    assert "to decode" in refused.value.message
    assert took < 3010 * per_scan / 10, (took, per_scan)


def test_a_16_megapixel_png_decodes_within_the_default_bound() -> None:
    decoded = decode_image(gradient_png(), limits=ImageLimits(max_seconds=5))
    assert decoded.size == (4000, 4000) and decoded.mode == "RGB"
    assert _pixels(decoded)[2000, 4000 - 1].tolist() == [255, 127, (2000 + 3999) % 256]


# -- corrupt EXIF ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize(
    ("orientation", "tag", "kind"), CORRUPT_EXIF.values(), ids=list(CORRUPT_EXIF)
)
def test_corrupt_exif_is_an_invalid_image_naming_the_field(
    fmt: str, orientation: int, tag: int, kind: int
) -> None:
    with pytest.raises(InvalidImage) as refused:
        decode_image(with_exif(fmt, exif_block(orientation, tag, kind)), field=FIELD)
    assert refused.value.field == FIELD
    assert "EXIF" in refused.value.message


def test_exif_orientation_is_applied() -> None:
    """Orientation 6: stored turned left, shown turned right; the left half goes on top."""
    stored = Image.new("RGB", (20, 10), "blue")
    stored.paste((255, 0, 0), (0, 0, 10, 10))
    exif = stored.getexif()
    exif[0x0112] = 6
    decoded = decode_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert decoded.size == (10, 20)
    top, bottom = _pixels(decoded)[3, 5], _pixels(decoded)[16, 5]
    assert top[0] > 200 and top[2] < 50, top
    assert bottom[2] > 200 and bottom[0] < 50, bottom


# -- the picture a person sees ---------------------------------------------------------


def test_16_bit_greyscale_png_is_scaled_by_its_bit_depth_not_clipped() -> None:
    ramp = np.linspace(0, 65535, 256 * 64).astype(np.uint16).reshape(64, 256)
    data = encoded(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = _pixels(decode_image(data))
    assert decoded.shape == (64, 256, 3)
    expected = np.rint(ramp / 257)
    assert np.abs(decoded[..., 0] - expected).max() <= 1
    assert (decoded == 255).mean() < 0.01  # clipping made 99.6 % of them 255


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_16_bit_modes_scale_by_bit_depth(mode: str) -> None:
    image = Image.new(mode, (3, 1))
    for x, value in enumerate((0, 257 * 128, 65535)):
        image.putpixel((x, 0), value)
    assert _pixels(as_seen(image))[0].tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_16_bit_greyscale_with_a_transparent_value_keeps_it_transparent() -> None:
    data = encoded(
        Image.fromarray(np.array([[0, 1000, 65535]], dtype=np.uint16)),
        "PNG",
        transparency=1000,
    )
    decoded = decode_image(data)
    assert decoded.mode == "RGBA"
    assert _pixels(decoded)[0].tolist() == [[0, 0, 0, 255], [4, 4, 4, 0], [255, 255, 255, 255]]


def test_32_bit_integers_scale_by_their_range() -> None:
    image = Image.fromarray(np.array([[-1000, 1000, 3000]], dtype=np.int32), "I")
    assert _pixels(as_seen(image))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([-2.0, 0.0, 6.0], [0, 64, 255]),
        ([np.nan, 0.25, 1.0], [0, 64, 255]),
    ],
    ids=["unit-range", "any-range", "nan"],
)
def test_floats_scale_by_their_range(values: list[float], expected: list[int]) -> None:
    image = Image.fromarray(np.array([values], dtype=np.float32), "F")
    assert _pixels(as_seen(image))[0, :, 0].tolist() == expected


def _one_pixel(mode: str, value: Any, **info: Any) -> Image.Image:
    image = Image.new(mode, (2, 1))
    image.putpixel((0, 0), value)
    image.info.update(info)
    return image


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (_one_pixel("1", 1), [255, 255, 255]),
        (_one_pixel("L", 77), [77, 77, 77]),
        (_one_pixel("L", 77, transparency=77), [77, 77, 77, 0]),
        (_one_pixel("LA", (100, 50)), [100, 100, 100, 50]),
        (_one_pixel("La", (50, 128)), [100, 100, 100, 128]),
        (_one_pixel("RGBa", (50, 25, 0, 128)), [100, 50, 0, 128]),
        (_one_pixel("RGBX", (1, 2, 3, 99)), [1, 2, 3]),
        (_one_pixel("YCbCr", (128, 128, 128)), [128, 128, 128]),
        (_one_pixel("CMYK", (0, 0, 0, 0)), [255, 255, 255]),
        (_one_pixel("CMYK", (255, 0, 0, 0)), [0, 255, 255]),
        (_one_pixel("CMYK", (0, 0, 0, 128)), [127, 127, 127]),
        (_one_pixel("CMYK", (128, 64, 0, 128)), [63, 95, 127]),
    ],
    ids=[
        "1",
        "L",
        "L-transparent",
        "LA",
        "La",
        "RGBa",
        "RGBX",
        "YCbCr",
        "CMYK-white",
        "CMYK-cyan",
        "CMYK-grey",
        "CMYK-mixed",
    ],
)
def test_every_mode_becomes_8_bit_rgb_or_rgba(image: Image.Image, expected: list[int]) -> None:
    seen = as_seen(image)
    assert seen.mode == ("RGBA" if len(expected) == 4 else "RGB")
    assert np.abs(_pixels(seen)[0, 0] - expected).max() <= 1, _pixels(seen)[0, 0]


def test_palette_with_a_transparent_entry_keeps_its_alpha() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((1, 0), 1)
    decoded = decode_image(encoded(image, "PNG", transparency=1))
    assert _pixels(decoded)[0].tolist() == [[255, 0, 0, 255], [0, 0, 255, 0]]


def test_rgb_with_a_transparent_colour_keeps_it_transparent() -> None:
    image = _one_pixel("RGB", (0, 0, 255))
    decoded = decode_image(encoded(image, "PNG", transparency=(0, 0, 0)))
    assert _pixels(decoded)[0].tolist() == [[0, 0, 255, 255], [0, 0, 0, 0]]


def test_palette_with_alpha_band_keeps_it() -> None:
    image = Image.new("PA", (1, 1))
    image.putpalette([10, 20, 30])
    image.putpixel((0, 0), (0, 77))
    assert _pixels(as_seen(image))[0, 0].tolist() == [10, 20, 30, 77]


def test_greyscale_with_alpha_png_keeps_its_alpha() -> None:
    decoded = decode_image(encoded(_one_pixel("LA", (100, 50)), "PNG"))
    assert _pixels(decoded)[0, 0].tolist() == [100, 100, 100, 50]


@pytest.mark.parametrize("adobe", [True, False], ids=["adobe", "plain"])
def test_cmyk_jpeg_shows_its_colours_with_or_without_an_adobe_marker(adobe: bool) -> None:
    cmyk = (0, 255, 255, 0)  # red
    if adobe:  # as Photoshop and libjpeg write it: inverted, with the marker
        data = encoded(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=100)
    else:  # plain CMYK values, no marker: Pillow stores inverted, so invert first
        inverted = tuple(255 - value for value in cmyk)
        data = without_adobe_marker(
            encoded(Image.new("CMYK", (16, 16), inverted), "JPEG", quality=100)
        )
    red = _pixels(decode_image(data))[8, 8]
    assert red[0] > 240 and red[1] < 15 and red[2] < 15, red


def test_webp_with_alpha_keeps_it() -> None:
    decoded = decode_image(encoded(_one_pixel("RGBA", (10, 200, 30, 0)), "WEBP", lossless=True))
    assert _pixels(decoded)[0, 0].tolist()[3] == 0
