"""LoRA adapters on a live stack (daphne, a Dramatiq worker, Redis): a task names one
from the model store (tests/conftest.py's `stack_models` holds a tiny one for
tiny-random), the web refuses names the store does not hold, and the worker fails a
task whose adapter vanished after it was accepted."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.scenarios import generation, graphql_error, is_terminal
from tests.client import SUBMIT, Api
from tests.stack import Stack

RESULT = """
query Result($id: ID!) { task(id: $id) { status error { code message }
  result { metadata images { base64 } } } }
"""


def outcome(api: Api, task_input: dict[str, Any]) -> dict[str, Any]:
    task = api.submit(task_input)
    api.wait_for(task["id"], is_terminal, timeout=120)
    found: dict[str, Any] = api.data(RESULT, id=task["id"])["task"]
    return found


def image(task: dict[str, Any]) -> bytes:
    assert task["status"] == "SUCCEEDED", task["error"]
    return base64.b64decode(task["result"]["images"][0]["base64"])


def test_a_lora_changes_the_result_and_the_next_task_without_it_is_the_base_model(
    api: Api,
) -> None:
    base = outcome(api, generation(seed=21))
    with_fox = outcome(api, generation(seed=21, loras=[{"name": "tiny-fox", "scale": 0.8}]))
    after = outcome(api, generation(seed=21))

    assert image(with_fox) != image(base)
    assert image(after) == image(base)
    assert with_fox["result"]["metadata"]["loras"] == [{"name": "tiny-fox", "scale": 0.8}]
    assert after["result"]["metadata"]["loras"] == []


@pytest.mark.parametrize(
    ("loras", "field", "said"),
    [
        ([{"name": "tiny-fox"}, {"name": "nope"}], "loras.1.name", ["'nope'", "tiny-fox"]),
        ([{"name": "tiny-fox"}, {"name": "tiny-fox", "scale": 0.5}], "loras.1.name", ["twice"]),
        ([{"name": "tiny-fox", "scale": -2.5}], "loras.0.scale", ["-2 to 2"]),
        ([{"name": "tiny-fox"}] * 6, "loras", ["at most 5"]),
    ],
    ids=["unknown", "named-twice", "scale", "too-many"],
)
def test_loras_the_task_cannot_run_are_refused_at_submit_naming_the_field(
    api: Api, loras: list[dict[str, Any]], field: str, said: list[str]
) -> None:
    error = graphql_error(api.execute(SUBMIT, input=generation(loras=loras), key=None))
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.imageGeneration." + field,
    }
    assert all(words in error["message"] for words in said), error["message"]


def test_a_lora_gone_from_the_store_after_submit_fails_the_task_naming_it(
    api: Api, stack: Stack
) -> None:
    # The web listed the store at start; the worker looks again when it runs the task.
    (stack.model_dir / "lora" / "tiny-gone.safetensors").unlink()
    task = outcome(api, generation(loras=[{"name": "tiny-gone"}]))
    assert task["status"] == "FAILED"
    assert task["error"]["code"] == "MODEL_NOT_AVAILABLE"
    assert "tiny-gone" in task["error"]["message"]
    assert str(stack.model_dir) not in task["error"]["message"]
