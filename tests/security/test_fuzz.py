"""Property: whatever a caller puts in a submission, the answer is a QUEUED task or a
client error (BAD_USER_INPUT, RATE_LIMITED, PAYLOAD_TOO_LARGE), never INTERNAL or 500.

A long task holds the only worker while the fuzz runs, so every accepted task is
cancelled while still QUEUED and none of the fuzzed work is actually run.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.security.hostile import (
    SUBMIT,
    RawApi,
    assert_healthy,
    assert_no_leak,
    long_generation,
)
from tests.stack import ALICE_KEY, Stack

CLIENT_ERRORS = frozenset({"BAD_USER_INPUT", "RATE_LIMITED", "PAYLOAD_TOO_LARGE"})
FUZZ_OUTCOMES: Counter[str] = Counter()

# Text of any valid code point, control and format characters included, and lengths
# on both sides of the 2000-character prompt limit.
_chars = st.characters(codec="utf-8")
text = st.one_of(
    st.text(_chars, max_size=40),
    st.text(st.sampled_from("\x00\x07\x1b\u200b\u200d\u202e\u2066\ufeff\u2028 a"), max_size=20),
    st.builds(lambda c, n: c * n, _chars, st.integers(1990, 2010)),
)
ints = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 8, 63, 64, 512, 2048, 2056, 2**31 - 1, 2**31, -(2**31)]),
)
floats = st.one_of(st.floats(), st.sampled_from([0.0, 30.0, 30.000001, 1e308, -1e308, 5e-324]))
# Values each field accepts, so that some submissions pass and get queued.
sides = st.integers(8, 64).map(lambda n: n * 8)
steps = st.integers(1, 150)
seeds = st.integers(0, 2**31 - 1)
guidance = st.floats(0, 30)
anything = st.one_of(text, ints, floats, st.booleans(), st.none(), st.lists(ints, max_size=2))


@st.composite
def real_png(draw: st.DrawFn) -> str:
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "P", "1"]))
    image = Image.new(mode, (width, height))
    buffer = io.BytesIO()
    image.save(
        buffer, format=draw(st.sampled_from(["PNG", "JPEG", "WEBP"])) if mode == "RGB" else "PNG"
    )
    data = buffer.getvalue()
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]  # now and then truncated
    encoded = base64.b64encode(data).decode()
    return draw(st.sampled_from(["", "data:image/png;base64,"])) + encoded


images = st.one_of(
    real_png(),
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    text,
)


def _submissions(loose: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Each field mostly a value it accepts, else a hostile one of its own type; when
    `loose`, sometimes a value of any type at all (GraphQL's coercion refuses those)."""

    def field(valid: st.SearchStrategy[Any], kind: st.SearchStrategy[Any]) -> Any:
        return st.one_of(valid, valid, kind, *([anything] if loose else []))

    generation = st.fixed_dictionaries(
        {"prompt": field(st.just("a cat"), text)},
        optional={
            "negativePrompt": field(text, text),
            "width": field(sides, ints),
            "height": field(sides, ints),
            "steps": field(steps, ints),
            "guidanceScale": field(guidance, floats),
            "seed": field(seeds, ints),
            "refinePrompt": field(st.booleans(), st.booleans()),
            "previews": field(st.booleans(), st.booleans()),
            "model": field(st.just("tiny-random"), st.sampled_from(["no-such", "../x", ""])),
            "style": field(st.sampled_from(["photo", "anime"]), st.sampled_from(["vapor", ""])),
        },
    )
    removal = st.fixed_dictionaries(
        {"image": field(real_png(), images)},
        optional={
            "model": field(st.just("u2netp"), st.sampled_from(["u2net", "nope"])),
            "alphaMatting": field(st.booleans(), st.booleans()),
            "onlyMask": field(st.booleans(), st.booleans()),
        },
    )
    swap = st.fixed_dictionaries(
        {"sourceImage": field(real_png(), images), "targetImage": field(real_png(), images)},
        optional={
            "sourceFaceIndex": field(st.integers(0, 3), ints),
            "targetFaceIndex": field(st.integers(0, 3), ints),
        },
    )
    return st.one_of(
        st.fixed_dictionaries({"imageGeneration": generation}),
        st.fixed_dictionaries({"backgroundRemoval": removal}),
        st.fixed_dictionaries({"faceSwap": swap}),
    )


# Two in three well-typed (they reach our own validation), one in three loose.
submissions = st.one_of(_submissions(False), _submissions(False), _submissions(True))


@pytest.fixture(scope="module")
def held_worker(hostile_stack: Stack) -> Iterator[str]:
    """A long generation RUNNING on the only worker thread for the whole fuzz; its id."""
    alice = RawApi(hostile_stack, ALICE_KEY)
    task = alice.data(SUBMIT, {"input": long_generation(), "key": None})["submitTask"]
    deadline = time.monotonic() + 30
    while alice.task(task["id"])["status"] == "QUEUED":  # type: ignore[index]
        assert time.monotonic() < deadline, "the worker never started the holder"
        time.sleep(0.05)
    yield task["id"]
    alice.cancel(task["id"])
    assert alice.wait_for_end(task["id"])["status"] == "CANCELLED"


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(task_input=submissions)
def test_any_submission_is_queued_or_a_client_error(
    hostile_stack: Stack, held_worker: str, task_input: dict[str, Any]
) -> None:
    alice = RawApi(hostile_stack, ALICE_KEY)
    # json.dumps writes NaN and Infinity as bare tokens, as a careless client would.
    response = alice.http.post(
        "/graphql",
        content=json.dumps({"query": SUBMIT, "variables": {"input": task_input}}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400, 413), (response.status_code, response.text)
    assert_no_leak(response.text)
    body = response.json()
    if body.get("errors"):
        codes = {error.get("extensions", {}).get("code") for error in body["errors"]}
        assert codes <= CLIENT_ERRORS, body["errors"]
        FUZZ_OUTCOMES.update(codes)
        return
    task = body["data"]["submitTask"]
    assert task["status"] == "QUEUED", task
    FUZZ_OUTCOMES["QUEUED"] += 1
    assert alice.cancel(task["id"])["status"] == "CANCELLED"


def test_service_is_healthy_after_the_fuzz(
    alice: RawApi, hostile_stack: Stack, held_worker: str
) -> None:
    alice.cancel(held_worker)
    assert alice.wait_for_end(held_worker)["status"] == "CANCELLED"
    assert httpx.get(hostile_stack.http_url + "/healthz", timeout=5).status_code == 200
    assert_healthy(alice)
    print(f"fuzz outcomes: {dict(FUZZ_OUTCOMES)}")
