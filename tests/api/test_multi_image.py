"""A result of several images through a live stack (daphne, a worker, Redis): each
image's signed link opens that image and no other; a link to an image the task does
not hold is not found, and an altered one is refused as any forged link is.

No pipeline makes several images yet, so the task is ended in the stack's own store
as a worker ends it (start, then succeed with three PNGs)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from PIL import Image

from actors.records import ResultInfo, TaskKind
from actors.store.tasks import TaskStore
from graph.links import LinkSigner
from tests.actors.factories import new_task
from tests.client import Api
from tests.stack import Stack

IMAGES = "query($id: ID!) { task(id: $id) { result { image { url } images { url } seeds } } }"


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(out, "PNG")
    return out.getvalue()


PNGS = [png("red"), png("green"), png("blue")]


@pytest.fixture(scope="module")
def store(stack: Stack) -> Iterator[TaskStore]:
    client = redis.Redis.from_url(stack.redis_url)
    yield TaskStore(client, prefix=stack.env["ATELIER_KEY_PREFIX"])
    client.close()


def succeeded(store: TaskStore, *pngs: bytes) -> str:
    """A task of alice's that ended SUCCEEDED with `pngs`."""
    record, _ = store.create(new_task("alice", kind=TaskKind.IMAGE_GENERATION), {})
    started = store.start(record.id)
    assert started is not None
    seeds = list(range(1, len(pngs) + 1))
    info = ResultInfo(width=8, height=6, seed=seeds[0], seeds=seeds)
    assert store.succeed(started, info, pngs[0], pngs[1:]) is not None
    return record.id


@pytest.fixture(scope="module")
def three(store: TaskStore, stack: Stack) -> dict[str, Any]:
    """Alice's task of three images, as she reads it: {"id", "result"}."""
    task_id = succeeded(store, *PNGS)
    result = Api(stack.http_url, stack.ws_url).data(IMAGES, id=task_id)["task"]["result"]
    return {"id": task_id, "result": result}


def signer(stack: Stack) -> LinkSigner:
    return LinkSigner(stack.env["ATELIER_SECRET_KEY"].encode())


def test_each_images_link_opens_that_image(three: dict[str, Any]) -> None:
    result = three["result"]
    assert result["images"][0] == result["image"]
    assert result["seeds"] == [1, 2, 3]
    for image, expected in zip(result["images"], PNGS, strict=True):
        opened = httpx.get(image["url"], timeout=10)  # no headers, as an <img> tag
        assert opened.status_code == 200, image["url"]
        assert opened.content == expected
        assert opened.headers["content-type"] == "image/png"
        assert opened.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in opened.headers["content-security-policy"]


def test_a_signed_link_to_an_image_the_task_does_not_hold_is_not_found(
    three: dict[str, Any], store: TaskStore, stack: Stack
) -> None:
    later = int(time.time()) + 600
    one = succeeded(store, PNGS[0])
    for task_id, variant in (
        (three["id"], "result-3"),
        (three["id"], "result-99"),
        (one, "result-1"),
    ):
        response = httpx.get(stack.http_url + signer(stack).path(task_id, variant, later))
        assert response.status_code == 404, (variant, response.text)
        assert "Traceback" not in response.text


def test_an_altered_image_link_is_refused_like_any_forged_link(
    three: dict[str, Any], stack: Stack
) -> None:
    url = three["result"]["images"][2]["url"]
    assert "/result-2.png?" in url
    forged = [
        url.replace("/result-2.png", "/result-1.png"),  # another image, same signature
        url.replace("/result-2.png", "/result.png"),
        url.replace(three["id"], "00000000-0000-0000-0000-000000000000"),
    ]
    # Signed with the stack's own secret, yet not a name an image has: one spelling each.
    later = int(time.time()) + 600
    for variant in ("result-0", "result-02", "result-100", "result-999"):
        forged.append(stack.http_url + signer(stack).path(three["id"], variant, later))
    for link in forged:
        response = httpx.get(link, timeout=10)
        assert response.status_code == 403, (link, response.text)
    # Not an image's path at all: no such page, as for any other name.
    for variant in ("result-1000", "result-x", "result-", "results"):
        link = stack.http_url + signer(stack).path(three["id"], variant, later)
        assert httpx.get(link, timeout=10).status_code == 404, link


def test_an_expired_link_to_a_later_image_is_gone(three: dict[str, Any], stack: Stack) -> None:
    path = signer(stack).path(three["id"], "result-2", int(time.time()) - 5)
    response = httpx.get(stack.http_url + path, timeout=10)
    assert response.status_code == 404, response.text
