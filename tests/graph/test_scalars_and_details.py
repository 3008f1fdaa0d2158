"""DateTime as clients' Date writes it, and the typed view of a result's metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from actors.interface import utc_text as write_datetime
from graph.resultmetadata import result_metadata
from graph.scalars import read_datetime


def test_a_datetime_is_written_in_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 12, 5, 14, 3, 7, 125_999, tzinfo=UTC)
    assert write_datetime(moment) == "2026-12-05T14:03:07.125Z"
    paris = moment.astimezone(timezone(timedelta(hours=1)))
    assert write_datetime(paris) == "2026-12-05T14:03:07.125Z"
    assert write_datetime(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"


def test_a_datetime_is_read_with_z_or_an_offset_but_not_without_a_zone() -> None:
    assert read_datetime("2026-12-05T14:03:07.125Z") == datetime(
        2026, 12, 5, 14, 3, 7, 125_000, tzinfo=UTC
    )
    assert read_datetime("2026-12-05T15:03:07+01:00") == datetime(2026, 12, 5, 14, 3, 7, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        read_datetime("2026-12-05T14:03:07")
    with pytest.raises(ValueError, match="ISO 8601"):
        read_datetime(1764943387)


def test_details_type_what_each_kind_writes_and_leave_the_rest_null() -> None:
    generated = result_metadata(
        {
            "kind": "text-to-image",
            "model": "sd15",
            "device": "cuda",
            "steps": 30,
            "guidanceScale": 7.5,
            "numImages": 2,
            "promptNotes": ["added quality words"],
            "loras": [{"name": "ink", "scale": 0.8}],
            "batch": {"tasks": 3, "images": 4, "exact": True},
            "timings": {"loadMs": 1.5, "denoiseMs": 800.25, "totalMs": 900.0, "encodeMs": 20.0},
            "attempts": 2,
        }
    )
    assert (generated.model, generated.device, generated.steps) == ("sd15", "cuda", 30)
    assert generated.guidance_scale == 7.5 and generated.num_images == 2
    assert [(lora.name, lora.scale) for lora in generated.loras] == [("ink", 0.8)]
    assert generated.batch is not None and generated.batch.images == 4
    assert [(t.phase, t.ms) for t in generated.timings] == [
        ("load", 1.5),
        ("denoise", 800.25),
        ("encode", 20.0),
        ("total", 900.0),
    ]
    assert generated.attempts == 2 and generated.demo is False and generated.engine is None

    swapped = result_metadata(
        {"engine": "inswapper", "facesInSource": 1, "facesInTarget": 3, "swapped": 3}
    )
    assert (swapped.engine, swapped.faces_in_target, swapped.faces_swapped) == ("inswapper", 3, 3)
    assert swapped.steps is None and swapped.loras == [] and swapped.batch is None
    # A value of the wrong type (an older or hand-made record) is null, not an error.
    assert result_metadata({"steps": "thirty", "demo": True}).steps is None
