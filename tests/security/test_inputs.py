"""Hostile submissions: each is refused with its documented code, or, where it is
legitimate, runs to a documented end; the service stays healthy after every one.

Cases already in tests/graph/test_validation.py are not repeated here.
"""

from __future__ import annotations

import base64
import io
import json
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from project.config import load
from tests.client import png_claiming
from tests.pipelines.imagefiles import CORRUPT_EXIF, costly_jpeg, exif_block, scan_bomb, with_exif
from tests.security.hostile import (
    OUTCOMES,
    SUBMIT,
    RawApi,
    b64,
    encoded,
    fast_generation,
    png,
    refused,
)
from tests.stack import ALICE_KEY, Stack

GEN = "input.imageGeneration."
CUTOUT = "input.backgroundRemoval.image"


def _generation(**fields: Any) -> dict[str, Any]:
    task = fast_generation()
    task["imageGeneration"].update(fields)
    return task


def _cutout(image: Any, **fields: Any) -> dict[str, Any]:
    return {"backgroundRemoval": {"image": image, **fields}}


def _swap(source: Any = None, target: Any = None, **fields: Any) -> dict[str, Any]:
    face = b64(png(48, 48))
    return {
        "faceSwap": {
            "sourceImage": face if source is None else source,
            "targetImage": face if target is None else target,
            **fields,
        }
    }


def _bomb() -> bytes:
    """A real 5000x5000 PNG of zeros: a few kilobytes that would decode to 25 MB."""
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# Refused by GraphQL's own coercion, before any resolver runs. Such errors carry no
# extensions.field; their message names the path instead.
COERCION = {
    "steps-string": (_generation(steps="5"), ".imageGeneration.steps"),
    "refine-prompt-int": (_generation(refinePrompt=1), ".imageGeneration.refinePrompt"),
    "previews-string": (_generation(previews="true"), ".imageGeneration.previews"),
    "prompt-object": (_generation(prompt={"a": 1}), ".imageGeneration.prompt"),
    "prompt-list": (_generation(prompt=["a", "b"]), ".imageGeneration.prompt"),
    "prompt-null": (_generation(prompt=None), ".imageGeneration.prompt"),
    "width-null": (_generation(width=None), ".imageGeneration.width"),
    "width-float": (_generation(width=7.5), ".imageGeneration.width"),
    "width-boolean": (_generation(width=True), ".imageGeneration.width"),
    "width-2**31": (_generation(width=2**31), ".imageGeneration.width"),
    "width--2**31-1": (_generation(width=-(2**31) - 1), ".imageGeneration.width"),
    "steps-2**63": (_generation(steps=2**63), ".imageGeneration.steps"),
    "seed-2**31": (_generation(seed=2**31), ".imageGeneration.seed"),
    "seed-string": (_generation(seed="7"), ".imageGeneration.seed"),
    "guidance-string": (_generation(guidanceScale="7.5"), ".imageGeneration.guidanceScale"),
    "unknown-field": (_generation(evil=1), ".imageGeneration"),
    "image-number": (_cutout(5), ".backgroundRemoval.image"),
    "alpha-matting-string": (
        _cutout(b64(png()), alphaMatting="yes"),
        ".backgroundRemoval.alphaMatting",
    ),
    "face-index-float": (_swap(sourceFaceIndex=1.5), ".faceSwap.sourceFaceIndex"),
    "face-index-2**40": (_swap(targetFaceIndex=2**40), ".faceSwap.targetFaceIndex"),
    "input-null": (None, "$input"),
    "input-string": ("imageGeneration", "$input"),
    "input-list": ([fast_generation()], "$input"),
}


@pytest.mark.parametrize(("task_input", "path"), list(COERCION.values()), ids=list(COERCION))
def test_wrong_type_or_overflow_is_bad_user_input_naming_the_path(
    alice: RawApi, task_input: Any, path: str
) -> None:
    error = refused(alice.execute(SUBMIT, {"input": task_input, "key": None}), "BAD_USER_INPUT")
    assert path in error["message"], error


# JSON numbers no encoder writes but Python's parser (so the server's) accepts.
RAW_NUMBERS = {
    "guidance-NaN": ("guidanceScale", "NaN"),
    "guidance-Infinity": ("guidanceScale", "Infinity"),
    "guidance--Infinity": ("guidanceScale", "-Infinity"),
    "guidance-1e309": ("guidanceScale", "1e309"),
    "width-NaN": ("width", "NaN"),
    "steps-Infinity": ("steps", "Infinity"),
    "seed-1e400": ("seed", "1e400"),
}


@pytest.mark.parametrize(("name", "token"), list(RAW_NUMBERS.values()), ids=list(RAW_NUMBERS))
def test_non_finite_number_token_is_bad_user_input(alice: RawApi, name: str, token: str) -> None:
    body = alice.execute_with_tokens(
        SUBMIT, {"input": _generation(**{name: "@raw@"}), "key": None}, {"@raw@": token}
    )
    error = refused(body, "BAD_USER_INPUT")
    assert f".imageGeneration.{name}" in error["message"], error


LONE_SURROGATE = "\ud800"

# Well-typed values that validation refuses, naming the field.
REFUSED = {
    "width-2**31-1": (_generation(width=2**31 - 1), GEN + "width"),
    "width--2**31": (_generation(width=-(2**31)), GEN + "width"),
    "steps-10**9": (_generation(steps=10**9), GEN + "steps"),
    "steps--2**31": (_generation(steps=-(2**31)), GEN + "steps"),
    "guidance-1e308": (_generation(guidanceScale=1e308), GEN + "guidanceScale"),
    "guidance--1e308": (_generation(guidanceScale=-1e308), GEN + "guidanceScale"),
    "seed--2**31": (_generation(seed=-(2**31)), GEN + "seed"),
    "source-face-index--2**31": (_swap(sourceFaceIndex=-(2**31)), "input.faceSwap.sourceFaceIndex"),
    "prompt-1MB": (_generation(prompt="a" * 1024 * 1024), GEN + "prompt"),
    "prompt-only-invisible-chars": (
        _generation(prompt="\u200b\u200c\u200d\u202e\u2066\u2069\ufeff\u00ad"),
        GEN + "prompt",
    ),
    "prompt-lone-surrogate": (_generation(prompt=f"a cat {LONE_SURROGATE}"), GEN + "prompt"),
    "negative-prompt-lone-surrogate": (
        _generation(negativePrompt=f"blur {LONE_SURROGATE}"),
        GEN + "negativePrompt",
    ),
    "model-path-traversal": (_generation(model="../../../etc/passwd"), GEN + "model"),
    "cutout-model-path-traversal": (
        _cutout(b64(png()), model="../rembg/u2netp"),
        "input.backgroundRemoval.model",
    ),
    # Base64 and data: URLs.
    "base64-one-char-too-many": (_cutout("abcde"), CUTOUT),
    "base64-only-non-alphabet": (_cutout("%%%%!!!!"), CUTOUT),
    "base64-whitespace-only": (_cutout(" \n\t "), CUTOUT),
    "data-url-text-mime": (_cutout("data:text/plain;base64," + b64(png())), CUTOUT),
    "data-url-svg-mime": (
        _cutout("data:image/svg+xml;base64," + b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>")),
        CUTOUT,
    ),
    "data-url-prefix-only": (_cutout("data:image/png;base64,"), CUTOUT),
    # Bytes that are not an acceptable image.
    "svg": (_cutout(b64(b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>')), CUTOUT),
    "tiff": (_cutout(b64(encoded("TIFF"))), CUTOUT),
    "bmp": (_cutout(b64(encoded("BMP"))), CUTOUT),
    "png-signature-only": (_cutout(b64(png()[:8])), CUTOUT),
    "png-header-without-data": (_cutout(b64(png()[:33])), CUTOUT),
    "truncated-jpeg": (_cutout(b64(encoded("JPEG", (64, 64))[:300])), CUTOUT),
    "png-claiming-100000x1": (_cutout(b64(png_claiming(100_000, 1))), CUTOUT),
    "png-claiming-20000x1000": (_cutout(b64(png_claiming(20_000, 1_000))), CUTOUT),
    "png-bomb-5000x5000": (_cutout(b64(_bomb())), CUTOUT),
    "bad-face-swap-source": (_swap(source=b64(encoded("BMP"))), "input.faceSwap.sourceImage"),
    # 190 KB that took 45 s of CPU to decode: refused from its scan count.
    "jpeg-3000-scans": (_cutout(b64(scan_bomb())), CUTOUT),
    # EXIF that made Pillow raise TypeError, struct.error or AttributeError (INTERNAL).
    **{
        f"{fmt.lower()}-exif-{name}": (_cutout(b64(with_exif(fmt, exif_block(*exif)))), CUTOUT)
        for name, exif in CORRUPT_EXIF.items()
        for fmt in ("JPEG", "PNG", "WEBP")
    },
    "face-swap-target-corrupt-exif": (
        _swap(target=b64(with_exif("JPEG", exif_block(*CORRUPT_EXIF["software-as-float"])))),
        "input.faceSwap.targetImage",
    ),
}


@pytest.mark.parametrize(("task_input", "field"), list(REFUSED.values()), ids=list(REFUSED))
def test_hostile_value_is_bad_user_input_naming_the_field(
    alice: RawApi, task_input: dict[str, Any], field: str
) -> None:
    refused(alice.execute(SUBMIT, {"input": task_input, "key": None}), "BAD_USER_INPUT", field)


def test_idempotency_key_with_a_lone_surrogate_is_bad_user_input(alice: RawApi) -> None:
    body = alice.execute(SUBMIT, {"input": fast_generation(), "key": LONE_SURROGATE})
    refused(body, "BAD_USER_INPUT", "idempotencyKey")


def test_image_of_15_megabytes_is_refused_before_decoding(
    alice: RawApi, hostile_stack: Stack
) -> None:
    """BAD_USER_INPUT 'larger than' when the body fits the transport limit, else
    PAYLOAD_TOO_LARGE."""
    huge = "A" * (15 * 1024 * 1024)
    config = load(hostile_stack.env)
    variables = json.dumps({"input": {"backgroundRemoval": {"image": huge}}})
    response = alice.send(f'{{"query": {json.dumps(SUBMIT)}, "variables": {variables}}}')
    if len(huge) > config.max_body_bytes:
        assert response.status_code == 413 or "PAYLOAD_TOO_LARGE" in response.text, response.text
        OUTCOMES["PAYLOAD_TOO_LARGE"] += 1
    else:
        error = refused(response.json(), "BAD_USER_INPUT", CUTOUT)
        assert "larger than" in error["message"], error


def _noise_b64() -> str:
    """Base64 of a noisy PNG: padded, and using both '+' and '/'."""
    pixels = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    text = b64(buffer.getvalue())
    assert text.endswith("=") and "+" in text and "/" in text
    return text


NOISE = _noise_b64()
# Sloppy but decodable base64: decoded leniently, then checked as an image like any other.
TOLERATED = {
    "missing-padding": NOISE.rstrip("="),
    "excess-padding": NOISE + "====",
    "line-breaks": "\n".join(NOISE[i : i + 76] for i in range(0, len(NOISE), 76)),
    "non-alphabet-interleaved": "!".join(NOISE),
    "url-safe-alphabet": NOISE.replace("+", "-").replace("/", "_"),
    "data-url-uppercase": "DATA:IMAGE/PNG;BASE64," + NOISE,
}


@pytest.mark.parametrize("image", list(TOLERATED.values()), ids=list(TOLERATED))
def test_sloppy_base64_of_a_real_image_is_accepted(alice: RawApi, image: str) -> None:
    """Accepted means it passed the image checks; cutout-1x1 below shows one running.
    (A face swap: if the worker starts it before the cancel, it ends at once, faceless.)"""
    task = alice.data(SUBMIT, {"input": _swap(image, image), "key": None})["submitTask"]
    assert task["status"] == "QUEUED", task
    alice.cancel(task["id"])
    OUTCOMES["accepted"] += 1


@pytest.mark.parametrize(
    ("task_input", "status", "code"),
    [
        (_cutout(b64(png(1, 1))), "SUCCEEDED", None),
        (_swap(b64(png(1, 1)), b64(png(1, 1))), "FAILED", "NO_FACE_FOUND"),
        (_swap(sourceFaceIndex=2**31 - 1, targetFaceIndex=2**31 - 1), "FAILED", "NO_FACE_FOUND"),
    ],
    ids=["cutout-1x1", "face-swap-1x1", "face-swap-index-2**31-1"],
)
def test_degenerate_but_valid_input_ends_with_a_documented_outcome(
    alice: RawApi, task_input: dict[str, Any], status: str, code: str | None
) -> None:
    task = alice.data(SUBMIT, {"input": task_input, "key": None})["submitTask"]
    done = alice.wait_for_end(task["id"])
    assert done["status"] == status, done
    assert (done["error"] or {}).get("code") == code, done
    OUTCOMES[f"accepted, task {code or status}"] += 1


def test_invisible_and_bidi_characters_are_removed_from_the_prompt_used(alice: RawApi) -> None:
    prompt = (
        "a\u202e red\u200b cat\u2066 on\u0000 a\x1b\x07 mat\ufeff\u200d,\u2028 "
        "\u061c\u200f\u2029 photo\u00ad"
    )
    task = alice.data(SUBMIT, {"input": _generation(prompt=prompt, refinePrompt=True)})
    done = alice.wait_for_end(task["submitTask"]["id"])
    assert done["status"] == "SUCCEEDED", done
    used = alice.data(
        "query($id: ID!) { task(id: $id) { result { promptUsed } } }", {"id": done["id"]}
    )["task"]["result"]["promptUsed"]
    hidden = [c for c in used if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    assert not hidden, (used, hidden)
    assert "red cat on a" in used and "photo" in used, used
    OUTCOMES["accepted"] += 1


def test_images_costly_to_decode_leave_the_server_responsive(alice: RawApi) -> None:
    """Eight images as slow to decode as the limits allow (16 MP, 24 scans, truncated so
    each is refused once decoded) and the 3,000-scan bomb, all at once: each is
    refused naming the field (or told to retry while the decoders are busy),
    /healthz answers within 100 ms all along, and then a small task still runs."""
    costly, bomb = b64(costly_jpeg()), b64(scan_bomb())

    def submit(image: str) -> dict[str, Any]:
        api = RawApi(alice.stack, ALICE_KEY)  # a client per thread
        return api.execute(SUBMIT, {"input": _cutout(image), "key": None})

    latencies = []
    with httpx.Client(base_url=alice.stack.http_url, timeout=5) as probe:
        assert probe.get("/healthz").status_code == 200  # connected before the clock runs
        with ThreadPoolExecutor(9) as pool:
            replies = [pool.submit(submit, image) for image in [bomb] + [costly] * 8]
            while not all(reply.done() for reply in replies):
                started = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)
    # Within 100 ms, but for the odd probe the (shared, 2-core) test machine's
    # scheduler delays; every probe within a second.
    slow = [latency for latency in latencies if latency >= 0.1]
    assert len(latencies) >= 5 and len(slow) <= len(latencies) // 20, latencies
    assert max(latencies) < 1, latencies
    bomb_error = refused(replies[0].result(), "BAD_USER_INPUT", CUTOUT)
    assert "scans" in bomb_error["message"], bomb_error
    decoded = 0
    for reply in replies[1:]:
        error = reply.result()["errors"][0]
        if error["extensions"]["code"] == "RATE_LIMITED":
            assert error["extensions"]["reason"] == "DECODERS_BUSY", error
            OUTCOMES["RATE_LIMITED DECODERS_BUSY"] += 1
        else:
            refused(reply.result(), "BAD_USER_INPUT", CUTOUT)
            decoded += 1
    assert decoded >= 2, [reply.result() for reply in replies]


def test_16_bit_greyscale_is_cut_out_as_a_person_sees_it(alice: RawApi) -> None:
    """A bright disc on a dark ground, 16 bits deep: clipped to 8 bits it was all white
    and the mask nearly empty; scaled, the disc is cut out."""
    y, x = np.mgrid[0:256, 0:256]
    disc = (x - 128) ** 2 + (y - 128) ** 2 < 60**2
    picture = Image.fromarray(np.where(disc, 60000, 3000).astype(np.uint16))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    task = alice.data(SUBMIT, {"input": _cutout(b64(buffer.getvalue()), onlyMask=True)})
    done = alice.wait_for_end(task["submitTask"]["id"])
    assert done["status"] == "SUCCEEDED", done
    image = alice.data(
        "query($id: ID!) { task(id: $id) { result { image { base64 } } } }", {"id": done["id"]}
    )["task"]["result"]["image"]["base64"]
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(image)))).astype(int)
    assert mask[disc].mean() > 200 and mask[~disc].mean() < 50, (mask[disc].mean(), mask.mean())
    OUTCOMES["accepted, task SUCCEEDED"] += 1
