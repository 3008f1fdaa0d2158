"""Another owner's task, crafted task ids and forged links: nothing leaks, nothing breaks."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from graph.links import LinkSigner
from tests.client import Api
from tests.security.hostile import (
    OUTCOMES,
    SUBMIT,
    RawApi,
    assert_no_leak,
    fast_generation,
    refused,
)
from tests.stack import ALICE_KEY, BOB_KEY, Stack

RESULT = "query($id: ID!) { task(id: $id) { id result { image { url base64 } } } }"


@pytest.fixture(scope="module")
def alices_task(hostile_stack: Stack) -> dict[str, Any]:
    """A finished task of alice's, with its result link, submitted under a known key."""
    alice = RawApi(hostile_stack, ALICE_KEY)
    submitted = alice.data(SUBMIT, {"input": fast_generation("alice's"), "key": "alice-own"})
    done = alice.wait_for_end(submitted["submitTask"]["id"])
    assert done["status"] == "SUCCEEDED", done
    return alice.data(RESULT, {"id": done["id"]})["task"]


def test_every_operation_on_anothers_task_finds_nothing(
    alice: RawApi, bob: RawApi, alices_task: dict[str, Any], hostile_stack: Stack
) -> None:
    task_id = alices_task["id"]
    assert bob.data(RESULT, {"id": task_id}) == {"task": None}
    assert task_id not in bob.own_task_ids()
    refused(
        bob.execute("mutation($id: ID!) { cancelTask(id: $id) { id } }", {"id": task_id}),
        "NOT_FOUND",
    )
    # The same idempotency key from another owner is a new task, not alice's.
    again = bob.data(SUBMIT, {"input": fast_generation("bob's"), "key": "alice-own"})
    assert again["submitTask"]["id"] != task_id
    bob.wait_for_end(again["submitTask"]["id"])
    stranger = Api(hostile_stack.http_url, hostile_stack.ws_url, key=BOB_KEY)
    assert _subscription_error(stranger, task_id) == "NOT_FOUND"
    OUTCOMES["NOT_FOUND"] += 1
    OUTCOMES["null"] += 2
    # Alice's task is as it was.
    assert alice.data(RESULT, {"id": task_id})["task"] == alices_task


def _subscription_error(api: Api, task_id: str) -> str | None:
    from gql.transport.exceptions import TransportQueryError

    try:
        asyncio.run(api.events(task_id, timeout=10))
    except TransportQueryError as error:
        assert_no_leak(str(error.errors))
        return (error.errors or [{}])[0].get("extensions", {}).get("code")
    return None


CRAFTED = {
    "result-key": "{id}:result",
    "preview-key": "{id}:preview",
    "input-key": "{id}:input:image",
    "no-idempotency-key": "{id}:no-idempotency",
    "lone-surrogate": "\ud800",
    "glob": "*",
    "empty": "",
    "newline": "{id}\n",
    "100k-chars": "a" * 100_000,
}


@pytest.mark.parametrize("template", list(CRAFTED.values()), ids=list(CRAFTED))
def test_crafted_task_id_is_unknown_to_every_operation(
    alice: RawApi, bob: RawApi, alices_task: dict[str, Any], hostile_stack: Stack, template: str
) -> None:
    """Ids that name other keys of a task (or none) are simply not tasks: null / NOT_FOUND."""
    crafted = template.replace("{id}", alices_task["id"])
    seen = {}
    for name, caller in (("alice", alice), ("bob", bob)):
        body = caller.execute("query($id: ID!) { task(id: $id) { id } }", {"id": crafted})
        seen[f"{name} task"] = _outcome(body, "task")
        body = caller.execute("mutation($id: ID!) { cancelTask(id: $id) { id } }", {"id": crafted})
        seen[f"{name} cancelTask"] = _outcome(body, "cancelTask")
    follower = Api(hostile_stack.http_url, hostile_stack.ws_url)
    seen["alice taskProgress"] = _subscription_error(follower, crafted) or "events"
    OUTCOMES.update(seen.values())
    assert seen == {
        "alice task": "null",
        "alice cancelTask": "NOT_FOUND",
        "bob task": "null",
        "bob cancelTask": "NOT_FOUND",
        "alice taskProgress": "NOT_FOUND",
    }


def _outcome(body: dict[str, Any], field: str) -> str:
    """ "null", or the codes of the errors, or "data" when the operation found a task."""
    if body.get("errors"):
        return ",".join(e.get("extensions", {}).get("code", "?") for e in body["errors"])
    return "null" if body["data"][field] is None else "data"


def _signer(stack: Stack) -> LinkSigner:
    return LinkSigner(stack.env["ATELIER_SECRET_KEY"].encode())


def test_expired_link_with_a_valid_signature_is_gone(
    alice: RawApi, alices_task: dict[str, Any], hostile_stack: Stack
) -> None:
    expired = int(time.time()) - 5
    path = _signer(hostile_stack).path(alices_task["id"], "result", expired)
    response = httpx.get(hostile_stack.http_url + path, timeout=10)
    assert response.status_code == 404, response.text
    assert response.content != httpx.get(alices_task["result"]["image"]["url"]).content
    OUTCOMES["HTTP 404"] += 1


def test_validly_signed_link_to_a_missing_image_is_not_found(
    alice: RawApi, alices_task: dict[str, Any], hostile_stack: Stack
) -> None:
    later = int(time.time()) + 600
    signer = _signer(hostile_stack)
    for task_id, variant in (
        ("00000000-0000-0000-0000-000000000000", "result"),
        (alices_task["id"], "preview"),  # no previews were asked for
    ):
        response = httpx.get(hostile_stack.http_url + signer.path(task_id, variant, later))
        assert response.status_code == 404, response.text
        assert_no_leak(response.text)
        OUTCOMES["HTTP 404"] += 1


TAMPERED_QUERIES = {
    "superscript-digit-expiry": "expires=%C2%B2&sig={sig}",
    "arabic-digit-expiry": "expires=%D9%A1%D9%A2&sig={sig}",
    "negative-expiry": "expires=-1&sig={sig}",
    "5000-digit-expiry": "expires=" + "9" * 5000 + "&sig={sig}",
    "expiry-twice": "expires={expires}&expires=99999999999&sig={sig}",
    "uppercase-signature": "expires={expires}&sig={SIG}",
    "empty-signature": "expires={expires}&sig=",
    "signature-with-nul": "expires={expires}&sig=%00{sig}",
    "non-ascii-signature": "expires={expires}&sig=" + quote("é" * 32),
}


@pytest.mark.parametrize("query", list(TAMPERED_QUERIES.values()), ids=list(TAMPERED_QUERIES))
def test_tampered_link_is_forbidden_not_a_crash(
    alice: RawApi, alices_task: dict[str, Any], query: str
) -> None:
    url = alices_task["result"]["image"]["url"]
    parts = urlsplit(url)
    given = parse_qs(parts.query)
    sig, expires = given["sig"][0], given["expires"][0]
    tampered = query.format(sig=sig, SIG=sig.upper(), expires=expires)
    response = httpx.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{tampered}", timeout=10)
    assert response.status_code == 403, (response.status_code, response.text[:200])
    assert_no_leak(response.text)
    OUTCOMES["HTTP 403"] += 1
