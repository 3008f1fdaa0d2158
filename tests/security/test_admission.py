"""Floods on a stack of its own with tight limits: refused at the door with a reason and
a retryAfter, and admitted again once that time has passed or the cause is gone.

Each test uses its own keys, so one test's token bucket never throttles another's.
This stack's depth limit (2) is below the schema's natural depth (3), so the depth
limit is tested here too; every query below is at most 2 deep.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.observability.scrape import scrape
from tests.pipelines.imagefiles import costly_jpeg, scan_bomb
from tests.security.hostile import (
    SUBMIT,
    RawApi,
    assert_healthy,
    b64,
    fast_generation,
    long_generation,
    refused,
)
from tests.stack import ALICE_KEY, BOB_KEY, Stack, running_stack

KEYS = {
    "alice": ALICE_KEY,
    "bob": BOB_KEY,
    "carol": "carol-test-key-5555555555",
    "dave": "dave-test-key-6666666666",
    "erin": "erin-test-key-7777777777",
    "frank": "frank-test-key-8888888888",
}
UNFINISHED, QUEUED = 4, 6
TIGHT_ENV = {
    "ATELIER_API_KEYS": ",".join(f"{owner}:{key}" for owner, key in KEYS.items()),
    "ATELIER_SUBMIT_RATE": "1",
    "ATELIER_SUBMIT_BURST": "3",
    "ATELIER_MAX_UNFINISHED_PER_KEY": str(UNFINISHED),
    "ATELIER_MAX_QUEUED": str(QUEUED),
    "ATELIER_MAX_QUERY_DEPTH": "2",
    "ATELIER_INTROSPECTION": "0",
    "ATELIER_DEBUG": "0",
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
}


@pytest.fixture(scope="module")
def tight_stack(
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
    hostile_stack: Stack,
) -> Iterator[Stack]:
    # hostile_stack is asked for only to start it first: its worker then warms up while
    # these tests mostly wait out retryAfter, and the other modules find it ready.
    folder = tmp_path_factory.mktemp("tight-stack")
    with running_stack(redis_url, folder, stack_models, TIGHT_ENV) as stack:
        yield stack


def _caller(stack: Stack, owner: str) -> RawApi:
    return RawApi(stack, KEYS[owner])


def _submit(api: RawApi, task_input: dict[str, Any]) -> dict[str, Any]:
    return api.execute(SUBMIT, {"input": task_input, "key": None})


def _admitted(api: RawApi, task_input: dict[str, Any], deadline: float = 15) -> str:
    """Submit, honouring SUBMIT_RATE refusals' retryAfter, until admitted; the task id."""
    end = time.monotonic() + deadline
    while True:
        body = _submit(api, task_input)
        if not body.get("errors"):
            return body["data"]["submitTask"]["id"]
        error = body["errors"][0]
        assert error["extensions"]["reason"] == "SUBMIT_RATE", error
        assert time.monotonic() < end, "never admitted"
        time.sleep(error["extensions"]["retryAfter"])


def _cancel_all(api: RawApi, task_ids: list[str]) -> None:
    for task_id in task_ids:
        api.cancel(task_id)
    for task_id in task_ids:
        assert api.wait_for_end(task_id)["status"] in ("CANCELLED", "SUCCEEDED")


def _rate_limited(body: dict[str, Any], reason: str) -> float:
    """Assert a RATE_LIMITED refusal for `reason`; its retryAfter, in seconds."""
    error = refused(body, "RATE_LIMITED", label=f"RATE_LIMITED {reason}")
    assert error["extensions"]["reason"] == reason, error
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int | float) and retry_after > 0, error
    return float(retry_after)


def test_query_deeper_than_the_limit_is_refused(tight_stack: Stack) -> None:
    erin = _caller(tight_stack, "erin")
    for deep in (
        '{ task(id: "x") { result { image { url } } } }',
        'query { task(id: "x") { ...R } } fragment R on Task { result { image { url } } }',
        'query { task(id: "x") { ... on Task { result { ... on TaskResult { image { url } } } } } '
        "}",
    ):
        error = refused(erin.execute(deep), "BAD_USER_INPUT")
        assert "depth" in error["message"], error
    assert erin.data('{ task(id: "x") { result { seed } } }') == {"task": None}
    assert_healthy(erin)


def test_burst_then_submit_rate_refusal_then_admitted_after_retry_after(
    tight_stack: Stack,
) -> None:
    alice = _caller(tight_stack, "alice")
    accepted = []
    while True:
        body = _submit(alice, fast_generation())
        if body.get("errors"):
            break
        accepted.append(body["data"]["submitTask"]["id"])
        assert len(accepted) <= 3, "the burst of 3 was exceeded"
    assert len(accepted) == 3, accepted
    retry_after = _rate_limited(body, "SUBMIT_RATE")
    time.sleep(retry_after)
    assert_healthy(alice)  # admitted now, and runs
    for task_id in accepted:
        assert alice.wait_for_end(task_id)["status"] == "SUCCEEDED"


def test_unfinished_cap_refuses_then_admits_once_one_is_cancelled(tight_stack: Stack) -> None:
    bob = _caller(tight_stack, "bob")
    held = [_admitted(bob, long_generation()) for _ in range(UNFINISHED)]
    try:
        retry_after = _rate_limited(_submit(bob, fast_generation()), "UNFINISHED_TASKS")
        bob.cancel(held.pop())
        time.sleep(retry_after)
        held.append(bob.data(SUBMIT, {"input": fast_generation(), "key": None})["submitTask"]["id"])
    finally:
        _cancel_all(bob, held)
    time.sleep(1)  # one token back
    assert_healthy(bob)


def test_queue_full_across_two_owners_then_admitted_once_one_leaves(tight_stack: Stack) -> None:
    carol, dave = _caller(tight_stack, "carol"), _caller(tight_stack, "dave")
    held: dict[str, list[str]] = {"carol": [], "dave": []}
    apis = {"carol": carol, "dave": dave}
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the queue never filled"
            owner = min(held, key=lambda name: len(held[name]))
            body = _submit(apis[owner], long_generation())
            if not body.get("errors"):
                held[owner].append(body["data"]["submitTask"]["id"])
                continue
            reason = body["errors"][0]["extensions"].get("reason")
            if reason == "SUBMIT_RATE":
                time.sleep(body["errors"][0]["extensions"]["retryAfter"])
                continue
            assert len(held[owner]) < UNFINISHED, held
            retry_after = _rate_limited(body, "QUEUE_FULL")
            break
        assert len(held["carol"]) + len(held["dave"]) >= QUEUED, held
        # One waiting task leaves; the refused owner is admitted after retryAfter.
        other = "dave" if owner == "carol" else "carol"
        apis[other].cancel(held[other].pop())
        time.sleep(max(retry_after, 1))
        admitted = _admitted(apis[owner], fast_generation())
    finally:
        for name, task_ids in held.items():
            _cancel_all(apis[name], task_ids)
    assert apis[owner].wait_for_end(admitted)["status"] == "SUCCEEDED"
    time.sleep(1)
    assert_healthy(carol)


def _decodes(stack: Stack) -> float:
    """Input images the stack's web node has decoded so far, whatever came of it."""
    return sum(
        scrape(f"{stack.http_url}/metrics").named("atelier_image_decode_seconds_count").values()
    )


def test_over_its_rate_a_caller_is_refused_before_its_image_is_decoded(tight_stack: Stack) -> None:
    """The image passes every header check and then takes the decoder a few tenths
    of a second (16 MP, 24 scans) before it is refused as truncated. Over its rate, the
    caller is refused RATE_LIMITED with no decode at all, faster than the decode
    takes; admitted again, the same image is decoded and refused BAD_USER_INPUT."""
    frank = _caller(tight_stack, "frank")
    costly = {"backgroundRemoval": {"image": b64(costly_jpeg())}}
    burst = []
    while not (body := _submit(frank, fast_generation())).get("errors"):
        burst.append(body["data"]["submitTask"]["id"])
    _rate_limited(body, "SUBMIT_RATE")

    before = _decodes(tight_stack)
    started = time.perf_counter()
    over_rate = _submit(frank, costly)
    refused_in = time.perf_counter() - started
    retry_after = _rate_limited(over_rate, "SUBMIT_RATE")
    # What the header shows is refused before admission, and costs no decode either.
    bomb = _submit(frank, {"backgroundRemoval": {"image": b64(scan_bomb())}})
    refused(bomb, "BAD_USER_INPUT", "input.backgroundRemoval.image")
    assert _decodes(tight_stack) == before

    time.sleep(retry_after)
    started = time.perf_counter()
    admitted = _submit(frank, costly)
    decoded_in = time.perf_counter() - started
    refused(admitted, "BAD_USER_INPUT", "input.backgroundRemoval.image")
    assert _decodes(tight_stack) == before + 1
    assert refused_in < decoded_in, (refused_in, decoded_in)

    for task_id in burst:
        assert frank.wait_for_end(task_id)["status"] == "SUCCEEDED"
    time.sleep(1)  # one token back
    assert_healthy(frank)
