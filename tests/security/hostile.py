"""What every hostile-input test shares: a raw client, leak checks, a health probe.

`RawApi` builds request bodies by hand, so a test can send what `httpx`'s own JSON
encoder refuses (`NaN`, `Infinity`, lone surrogates) and read any status code.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections import Counter
from typing import Any

import httpx
from PIL import Image

from tests.stack import Stack

# Outcomes of every hostile case, by error code (or "accepted"), for the run's summary.
OUTCOMES: Counter[str] = Counter()

# What must never reach a client: tracebacks, source paths, internals' names.
_LEAKS = re.compile(
    r"(?i:traceback|File \"|redis|\.py\b|/work/|site-packages|wrongtype|binascii"
    r"|strawberry|dramatiq|django|daphne|\bPIL\b)"
    r"|\b[A-Z][A-Za-z]*(?:Error|Exception)\b",  # ValueError, ResponseError, ...
)


def assert_no_leak(text: str) -> None:
    """No traceback, file path, Redis or library exception name in a response."""
    match = _LEAKS.search(text)
    assert match is None, f"response leaks {match.group(0)!r}: {text[:2000]}"


class RawApi:
    """GraphQL over HTTP with bodies built by hand; every response checked for leaks."""

    def __init__(self, stack: Stack, key: str | None) -> None:
        self.stack = stack
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=stack.http_url, headers=headers, timeout=60)

    def send(self, body: str | bytes, **kwargs: Any) -> httpx.Response:
        response = self.http.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}, **kwargs
        )
        assert response.status_code != 500, response.text
        assert_no_leak(response.text)
        return response

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The GraphQL response; `json.dumps` writes NaN and Infinity as bare tokens."""
        body = json.dumps({"query": query, "variables": variables or {}})
        response = self.send(body)
        assert response.status_code in (200, 400), response.text
        return response.json()

    def execute_with_tokens(
        self, query: str, variables: dict[str, Any], tokens: dict[str, str]
    ) -> dict[str, Any]:
        """Like `execute`, with each string placeholder in `tokens` replaced by raw JSON text
        (`1e309`, `-Infinity`): numbers no encoder writes, that Python's parser accepts."""
        body = json.dumps({"query": query, "variables": variables})
        for placeholder, raw in tokens.items():
            body = body.replace(json.dumps(placeholder), raw)
        response = self.send(body)
        assert response.status_code in (200, 400), response.text
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def task(self, task_id: str) -> dict[str, Any] | None:
        return self.data(TASK, {"id": task_id})["task"]

    def wait_for_end(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(task_id)
            assert task is not None, task_id
            if task["status"] in TERMINAL:
                return task
            assert time.monotonic() < deadline, f"task never ended: {task}"
            time.sleep(0.05)

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self.data(CANCEL, {"id": task_id})["cancelTask"]

    def own_task_ids(self) -> set[str]:
        return {task["id"] for task in self.data("{ tasks(limit: 100) { id } }")["tasks"]}


TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
# Depth 2 at most, so the same queries work on a stack whose depth limit is 2.
TASK = "query($id: ID!) { task(id: $id) { id status stage error { code message } } }"
SUBMIT = (
    "mutation($input: SubmitTaskInput!, $key: String) "
    "{ submitTask(input: $input, idempotencyKey: $key) { id status } }"
)
CANCEL = "mutation($id: ID!) { cancelTask(id: $id) { id status } }"


def refused(
    body: dict[str, Any],
    code: str,
    field: str | None = None,
    *,
    single: bool = True,
    label: str | None = None,
) -> dict[str, Any]:
    """Assert the documented refusal, with nothing executed, and count it (as `label`).

    `single=False` allows several errors (validation reports each offending field),
    all with the same code. Returns the first.
    """
    errors = body.get("errors")
    assert errors and (len(errors) == 1 or not single), body
    assert not body.get("data"), body
    for error in errors:
        extensions = error.get("extensions") or {}
        assert extensions.get("code") == code, error
        if field is not None:
            assert extensions.get("field") == field, error
        assert "incident" not in extensions, error
    OUTCOMES[label or code] += 1
    return errors[0]


def fast_generation(prompt: str = "a healthy service") -> dict[str, Any]:
    """The cheapest task there is: 64x64, one step, no refinement."""
    return {
        "imageGeneration": {
            "prompt": prompt,
            "width": 64,
            "height": 64,
            "steps": 1,
            "seed": 3,
            "refinePrompt": False,
        }
    }


def long_generation() -> dict[str, Any]:
    """Holds the only worker thread for many seconds; always cancelled by its test."""
    return {
        "imageGeneration": {
            "prompt": "a long task that holds the worker",
            "width": 512,
            "height": 512,
            "steps": 150,
            "refinePrompt": False,
        }
    }


def assert_healthy(api: RawApi) -> None:
    """/healthz answers 200 and a normal small task runs to SUCCEEDED."""
    assert httpx.get(api.stack.http_url + "/healthz", timeout=5).status_code == 200
    task = api.data(SUBMIT, {"input": fast_generation(), "key": None})["submitTask"]
    done = api.wait_for_end(task["id"])
    assert done["status"] == "SUCCEEDED", done


# -- image bytes ---------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int = 32, height: int = 32, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, format=fmt)
    return buffer.getvalue()
