"""`TaskResult.images` and `seeds` through the schema of a web node in process, on a
real Redis: results are written by the task store as a worker writes them (start,
then succeed), and read back over the websocket; and what selecting every image
inline costs, counted before anything runs."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from graphql import parse
from graphql.utilities import get_operation_ast

from actors.records import ResultInfo, TaskKind
from actors.store.tasks import TaskStore
from graph.cost import inline_images
from graph.limits import MAX_IMAGES_PER_TASK
from graph.schema import schema
from tests.graph.conftest import ALICE, BOB, succeeded
from tests.wsclient import TRANSPORT_WS, in_process

PNGS = [b"\x89PNG\r\n\x1a\nfirst", b"\x89PNG\r\n\x1a\nsecond", b"\x89PNG\r\n\x1a\nthird"]
IMAGE = "url base64 width height contentType"
GET = (
    "query Get($id: ID!) { task(id: $id) { status result { "
    f"image {{ {IMAGE} }} images {{ {IMAGE} }} seeds seed }} }} }}"
)


def ask(consumer: Any, key: str, query: str, **variables: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with in_process(consumer, TRANSPORT_WS, key) as session:
            return await session.execute("1", query, **variables)

    return asyncio.run(main())


def test_a_result_of_three_images_answers_each_and_its_seeds(
    consumer: Any, store: TaskStore
) -> None:
    info = ResultInfo(width=64, height=48, seed=7, seeds=[7, 8, 9])
    task_id = succeeded(store, info, *PNGS, kind=TaskKind.IMAGE_GENERATION)

    answer = ask(consumer, ALICE, GET, id=task_id)

    assert "errors" not in answer, answer
    result = answer["data"]["task"]["result"]
    assert result["images"][0] == result["image"]
    assert [base64.b64decode(image["base64"]) for image in result["images"]] == PNGS
    assert {(i["width"], i["height"], i["contentType"]) for i in result["images"]} == {
        (64, 48, "image/png")
    }
    urls = [image["url"] for image in result["images"]]
    paths = [urlsplit(url).path for url in urls]
    assert paths == [f"/images/{task_id}/{name}.png" for name in ("result", "result-1", "result-2")]
    assert result["seeds"] == [7, 8, 9] and result["seed"] == result["seeds"][0]
    # Another owner sees no task at all, images or not.
    assert ask(consumer, BOB, GET, id=task_id) == {"data": {"task": None}}


def test_a_one_image_result_answers_one_image_and_null_seeds_without_a_seed(
    consumer: Any, store: TaskStore
) -> None:
    task_id = succeeded(store, ResultInfo(width=8, height=6), PNGS[0], kind=TaskKind.FACE_SWAP)

    result = ask(consumer, ALICE, GET, id=task_id)["data"]["task"]["result"]

    assert result["images"] == [result["image"]]
    assert base64.b64decode(result["image"]["base64"]) == PNGS[0]
    assert result["seeds"] is None and result["seed"] is None


def test_a_result_recorded_before_several_images_answers_its_seed_as_seeds(
    consumer: Any, store: TaskStore
) -> None:
    """Written by the code before: no `image_count`, no `seeds` in the result's JSON."""
    task_id = succeeded(
        store, ResultInfo(width=8, height=6), PNGS[0], kind=TaskKind.IMAGE_GENERATION
    )
    old = {"width": 8, "height": 6, "seed": 42, "metadata": {}}
    store.client.hset(store.key(task_id), "result", json.dumps(old))

    result = ask(consumer, ALICE, GET, id=task_id)["data"]["task"]["result"]

    assert result["seeds"] == [42] and len(result["images"]) == 1


# -- what selecting them inline costs ------------------------------------------------


def count(document: str, **options: Any) -> int:
    parsed = parse(document)
    operation = get_operation_ast(parsed)
    assert operation is not None
    return inline_images(schema._schema, parsed, operation, {}, **options)


@pytest.mark.parametrize(
    ("document", "images"),
    [
        ('{ task(id: "x") { result { images { url width } seeds } } }', 0),
        ('{ task(id: "x") { result { images { base64 } } } }', MAX_IMAGES_PER_TASK),
        ('{ task(id: "x") { result { image { base64 } images { base64 } } } }', 5),
        ("{ tasks(limit: 2) { result { images { base64 } } } }", 2 * MAX_IMAGES_PER_TASK),
        ('{ a: task(id: "x") { result { images { base64 } } } b: task(id: "y") { id } }', 4),
    ],
)
def test_every_image_a_result_may_hold_counts_when_images_go_inline(
    document: str, images: int
) -> None:
    assert MAX_IMAGES_PER_TASK == 4  # ATELIER_MAX_IMAGES's default
    assert count(document) == images


def test_the_configured_most_images_per_result_is_what_counts() -> None:
    document = "{ tasks(limit: 3) { result { images { base64 } } } }"
    assert count(document, images_per_task=1) == 3
    assert count(document, images_per_task=8) == 24


def test_selecting_more_images_inline_than_a_response_may_hold_is_refused(
    consumer: Any,
) -> None:
    # 3 tasks x 4 images: past the 10 images inline a response may hold by default.
    answer = ask(consumer, ALICE, "{ tasks(limit: 3) { result { images { base64 } } } }")

    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "RESPONSE_TOO_LARGE"
    assert error["extensions"]["requested"] == 3 * MAX_IMAGES_PER_TASK


def test_atelier_max_images_sets_the_count_and_is_bounded() -> None:
    from project.config import load

    default, two = load({}), load({"ATELIER_MAX_IMAGES": "2"})
    assert default.query_limits.max_images_per_task == MAX_IMAGES_PER_TASK
    assert default.limits.max_images == MAX_IMAGES_PER_TASK
    # One setting: what numImages may ask for, and what a response counts per result.
    assert (two.limits.max_images, two.query_limits.max_images_per_task) == (2, 2)
    for refused in ("0", "101", "many"):
        with pytest.raises(SystemExit, match="ATELIER_MAX_IMAGES"):
            load({"ATELIER_MAX_IMAGES": refused})
