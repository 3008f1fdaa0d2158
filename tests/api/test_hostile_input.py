"""Submissions over HTTP on a live stack: callers are authenticated before their input
is examined, and hostile input leaves the service working. (Each input check, with its
code and field, is tested in process: tests/graph/test_validation.py.)"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.scenarios import generation, graphql_error, is_terminal
from tests.client import SUBMIT, Api, png_claiming
from tests.stack import Stack


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _cutout(image: str) -> dict[str, Any]:
    return {"backgroundRemoval": {"image": image}}


@pytest.mark.parametrize("key", [None, "not-a-key"], ids=["no-header", "wrong-key"])
def test_submit_without_a_valid_key_is_unauthenticated(stack: Stack, key: str | None) -> None:
    stranger = Api(stack.http_url, stack.ws_url, key=key)
    body = stranger.execute(SUBMIT, input=generation(), key=None)
    assert body.get("data") is None, body
    assert graphql_error(body)["extensions"]["code"] == "UNAUTHENTICATED", body
    listing = stranger.execute("{ tasks { id } }")
    assert graphql_error(listing)["extensions"]["code"] == "UNAUTHENTICATED", listing


def test_submit_without_a_key_is_refused_before_its_input_is_examined(stack: Stack) -> None:
    """A stranger must not get the server to decode images (or learn which inputs pass)."""
    stranger = Api(stack.http_url, stack.ws_url, key=None)
    for hostile in (_cutout(_b64(png_claiming(100_000, 100_000))), generation(width=100)):
        body = stranger.execute(SUBMIT, input=hostile, key=None)
        assert graphql_error(body)["extensions"]["code"] == "UNAUTHENTICATED", body


def test_service_still_works_after_hostile_input(api: Api, stack: Stack) -> None:
    assert httpx.get(stack.http_url + "/healthz", timeout=5).status_code == 200
    for hostile in (_cutout(_b64(png_claiming(100_000, 100_000))), generation(width=100)):
        body = api.execute(SUBMIT, input=hostile, key=None)
        assert graphql_error(body)["extensions"]["code"] == "BAD_USER_INPUT", body
    task = api.submit(generation("still alive after the hostile inputs"))
    done = api.wait_for(task["id"], is_terminal, timeout=60)
    assert done["status"] == "SUCCEEDED", done["error"]
    assert httpx.get(done["result"]["image"]["url"], timeout=10).status_code == 200
    assert httpx.get(stack.http_url + "/healthz", timeout=5).status_code == 200
