"""An uploaded file's checks (graph.validation.checked_upload): an inline image's limits,
the size read from the upload before its bytes, and a clear error for what is no file."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from PIL import Image

from graph.errors import BadUserInput
from graph.limits import InputLimits
from graph.validation import checked_upload
from tests.client import png_claiming

FIELD = "input.backgroundRemoval.imageFile"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


class _Unreadable(SimpleUploadedFile):
    def read(self, *args: object) -> bytes:
        raise AssertionError("a file over the byte limit must not be read")


def test_an_image_file_in_memory_or_on_disk_gives_its_bytes(consumer: object) -> None:
    # `consumer` configures Django, whose settings name the temporary files' folder.
    data = _png()
    assert checked_upload(SimpleUploadedFile("a.png", data), FIELD, InputLimits()) == data
    on_disk = TemporaryUploadedFile("b.png", "image/png", len(data), None)
    on_disk.write(data)
    assert checked_upload(on_disk, FIELD, InputLimits()) == data
    on_disk.close()


def test_a_file_over_the_byte_limit_is_refused_unread() -> None:
    data = _png()
    limits = InputLimits(max_image_bytes=len(data) - 1)
    with pytest.raises(BadUserInput) as refused:
        checked_upload(_Unreadable("a.png", data), FIELD, limits)
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": FIELD}
    assert f"larger than {len(data) - 1} bytes" in refused.value.message


def test_a_file_over_the_pixel_limit_is_refused_from_its_header() -> None:
    with pytest.raises(BadUserInput) as refused:
        checked_upload(
            SimpleUploadedFile("big.png", png_claiming(5000, 5000)), FIELD, InputLimits()
        )
    assert "pixels" in refused.value.message


@pytest.mark.parametrize("given", ["aGVsbG8=", b"\x89PNG", 7, None])
def test_what_is_not_a_file_part_is_refused_naming_the_spec(given: object) -> None:
    with pytest.raises(BadUserInput) as refused:
        checked_upload(given, FIELD, InputLimits())
    assert "multipart" in refused.value.message
