"""A terminal task's record, result and keys expire together after ATELIER_RESULT_TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from graph.links import LinkSigner
from tests.api.scenarios import (
    edit,
    finish,
    generation,
    held_generation,
    inpaint,
    is_terminal,
    when,
)
from tests.client import Api
from tests.stack import Stack, running_stack

TTL = 2


@pytest.fixture(scope="module")
def short_ttl_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(
        redis_url,
        tmp_path_factory.mktemp("short-ttl"),
        stack_models,
        {"ATELIER_RESULT_TTL": str(TTL), "ATELIER_PRELOAD": "IMAGE_GENERATION"},
    ) as running:
        yield running


@pytest.mark.parametrize(
    "task_input",
    [
        generation("gone in two seconds"),
        edit("an edit gone in two seconds", numImages=2),
        inpaint("an inpainting gone in two seconds"),
    ],
    ids=["image-generation", "image-to-image-two-images", "inpainting"],
)
def test_finished_task_and_its_result_expire_after_the_ttl(
    short_ttl_stack: Stack, task_input: dict[str, Any]
) -> None:
    stack = short_ttl_stack
    api = Api(stack.http_url, stack.ws_url)
    task = api.submit(task_input)
    assert task["expiresAt"] is None
    done = api.wait_for(task["id"], is_terminal, timeout=90)
    assert done["status"] == "SUCCEEDED", done["error"]
    lifetime = when(done["expiresAt"]) - when(done["finishedAt"])  # type: ignore[operator]
    assert abs(lifetime - timedelta(seconds=TTL)) < timedelta(milliseconds=50), lifetime

    url = done["result"]["image"]["url"]
    assert httpx.get(url, timeout=10).status_code == 200

    gone = time.monotonic() + TTL + 10
    while api.get(task["id"]) is not None:
        assert time.monotonic() < gone, "the task outlived its TTL"
        time.sleep(0.1)
    assert api.data("{ tasks(limit: 100) { id } }")["tasks"] == []

    # Every key of the task went with the record.
    client = redis.Redis.from_url(stack.redis_url)
    prefix = stack.env["ATELIER_KEY_PREFIX"]
    assert list(client.scan_iter(f"{prefix}task:{task['id']}*")) == []

    # The old link has expired with the task; a freshly signed one finds no bytes.
    assert httpx.get(url, timeout=10).status_code == 404
    signer = LinkSigner(stack.env["ATELIER_SECRET_KEY"].encode())
    fresh = stack.http_url + signer.path(task["id"], "result", int(time.time()) + 600)
    response = httpx.get(fresh, timeout=10)
    assert response.status_code == 404, response.text


def test_running_task_stays_listed_after_another_task_of_its_owner_expires(
    short_ttl_stack: Stack,
) -> None:
    stack = short_ttl_stack
    api = Api(stack.http_url, stack.ws_url)
    holder = api.submit(held_generation("outlives its sibling"))
    try:
        running = api.wait_for(holder["id"], lambda t: t["status"] != "QUEUED", timeout=60)
        assert running["status"] == "RUNNING", running
        sibling = api.submit(generation("cancelled while queued"))
        assert api.cancel(sibling["id"])["status"] == "CANCELLED"
        gone = time.monotonic() + TTL + 10
        while api.get(sibling["id"]) is not None:
            assert time.monotonic() < gone, "the cancelled task outlived its TTL"
            time.sleep(0.1)
        still = api.get(holder["id"])
        assert still is not None and still["status"] == "RUNNING", still
        assert still["expiresAt"] is None
        listed = [t["id"] for t in api.data("{ tasks(limit: 100) { id } }")["tasks"]]
        assert listed == [holder["id"]], "a RUNNING task fell out of its owner's list"
    finally:
        finish(api, holder["id"])
