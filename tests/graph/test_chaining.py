"""Results as inputs (`XFromTask`, `XFromTaskImage`), in process on a real Redis: the
image is read on the server from the caller's own SUCCEEDED task, and anything else
(another owner's task, one not SUCCEEDED, an image it does not have, a made-up id) is
NOT_FOUND on that field; exactly one source per image."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from typing import Any

import pytest
from PIL import Image

from actors.records import ResultInfo, TaskKind
from actors.store.tasks import TaskStore
from tests.actors.factories import new_task
from tests.graph.conftest import ALICE, BOB, succeeded
from tests.wsclient import TRANSPORT_WS, in_process

SUBMIT = (
    "mutation Submit($input: SubmitTaskInput!) { submitTask(input: $input) { id kind status } }"
)
CANCEL = "mutation Cancel($id: ID!) { cancelTask(id: $id) { status } }"
AT = "input.backgroundRemoval."
_ids = itertools.count(1)


def png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="PNG")
    return buffer.getvalue()


FIRST, SECOND = png("red"), png("blue")


def submit(
    consumer: Any, key: str, cutout: dict[str, Any], store: TaskStore | None = None
) -> tuple[dict[str, Any], bytes | None]:
    """The answer, and the input image the task was recorded with (read from `store`
    before the task is cancelled: no worker runs here, and nothing is left queued)."""

    async def main() -> tuple[dict[str, Any], bytes | None]:
        async with in_process(consumer, TRANSPORT_WS, key) as session:
            answer = await session.execute(
                str(next(_ids)), SUBMIT, input={"backgroundRemoval": cutout}
            )
            task = (answer.get("data") or {}).get("submitTask")
            recorded = store.input_bytes(task["id"], "image") if task and store else None
            if task:
                await session.execute(str(next(_ids)), CANCEL, id=task["id"])
            return answer, recorded

    return asyncio.run(main())


@pytest.fixture
def generated(store: TaskStore) -> str:
    info = ResultInfo(width=32, height=32, seed=3, seeds=[3, 4])
    return succeeded(store, info, FIRST, SECOND, kind=TaskKind.IMAGE_GENERATION)


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("data") is None, answer
    (error,) = answer["errors"]
    return error["extensions"]


@pytest.mark.parametrize(("index", "expected"), [(None, FIRST), (0, FIRST), (1, SECOND)])
def test_an_image_of_ones_own_result_becomes_the_input(
    consumer: Any, store: TaskStore, generated: str, index: int | None, expected: bytes
) -> None:
    cutout = {"imageFromTask": generated, "imageFromTaskImage": index}
    answer, recorded = submit(consumer, ALICE, cutout, store)

    task = answer["data"]["submitTask"]
    assert task["kind"] == "BACKGROUND_REMOVAL" and task["status"] == "QUEUED"
    assert recorded == expected  # the result's bytes, exactly


def test_another_owners_task_is_not_found_on_the_field(consumer: Any, generated: str) -> None:
    answer, _ = submit(consumer, BOB, {"imageFromTask": generated})
    assert error_of(answer) == {"code": "NOT_FOUND", "field": AT + "imageFromTask"}


def test_a_task_not_succeeded_is_not_found(consumer: Any, store: TaskStore) -> None:
    queued, _ = store.create(new_task("alice"), {})
    try:
        answer, _ = submit(consumer, ALICE, {"imageFromTask": queued.id})
    finally:
        store.cancel(queued.id)
    assert error_of(answer) == {"code": "NOT_FOUND", "field": AT + "imageFromTask"}


@pytest.mark.parametrize("task_id", ["not-a-task", "00000000-0000-4000-8000-000000000000"])
def test_a_made_up_task_is_not_found(consumer: Any, task_id: str) -> None:
    answer, _ = submit(consumer, ALICE, {"imageFromTask": task_id})
    assert error_of(answer) == {"code": "NOT_FOUND", "field": AT + "imageFromTask"}


def test_an_image_the_result_does_not_have_is_not_found(consumer: Any, generated: str) -> None:
    answer, _ = submit(consumer, ALICE, {"imageFromTask": generated, "imageFromTaskImage": 2})
    assert error_of(answer) == {"code": "NOT_FOUND", "field": AT + "imageFromTask"}


@pytest.mark.parametrize(
    ("cutout", "field"),
    [
        ({}, AT + "image"),
        ({"image": base64.b64encode(FIRST).decode(), "imageFromTask": "x"}, AT + "image"),
        (
            {"image": base64.b64encode(FIRST).decode(), "imageFromTaskImage": 1},
            AT + "imageFromTaskImage",
        ),
        ({"imageFromTask": "x", "imageFromTaskImage": -1}, AT + "imageFromTaskImage"),
        ({"imageFromTask": "x", "imageFromTaskImage": 4}, AT + "imageFromTaskImage"),
    ],
    ids=["neither", "both", "index-without-task", "negative-index", "index-past-the-bound"],
)
def test_exactly_one_source_per_image(consumer: Any, cutout: dict[str, Any], field: str) -> None:
    answer, _ = submit(consumer, ALICE, cutout)
    assert error_of(answer) == {"code": "BAD_USER_INPUT", "field": field}
