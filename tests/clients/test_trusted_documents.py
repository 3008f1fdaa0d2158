"""Trusted documents (ATELIER_TRUSTED_DOCUMENTS): a stack started with the map the
TypeScript client writes (clients/typescript/persisted-documents.json, `npm run
persist`) runs that client's operations, sent as text over graphql-ws, and the same
documents named by hash over HTTP (Apollo's persisted-query format); it refuses any
other document, over HTTP and over the websocket, with a code."""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError

from tests.client import Api
from tests.clients.followed import ARGS, assert_followed_to_success, example_env, run_example
from tests.clients.npm import ENV as NPM_ENV
from tests.clients.npm import PACKAGE
from tests.clients.test_typescript import npm, shown, typescript_client
from tests.stack import ALICE_KEY, Stack, running_stack

pytestmark = pytest.mark.timeout(600)
__all__ = ["typescript_client"]  # the fixture, shared with test_typescript

PERSISTED = PACKAGE / "persisted-documents.json"


def documents() -> dict[str, str]:
    loaded: dict[str, str] = json.loads(PERSISTED.read_text())
    return loaded


def hash_of(operation: str) -> str:
    """The hash of the committed document that defines `operation`."""
    pattern = re.compile(rf"^\w+ {operation}\b", re.M)
    return next(digest for digest, text in documents().items() if pattern.search(text))


@pytest.fixture(scope="module")
def trusted_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = {"ATELIER_TRUSTED_DOCUMENTS": str(PERSISTED), "ATELIER_PRELOAD": "IMAGE_GENERATION"}
    with running_stack(redis_url, tmp_path_factory.mktemp("trusted"), stack_models, env) as stack:
        yield stack


def test_committed_map_is_what_the_client_sends(typescript_client: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "persisted.json"
    run = npm("run", "persist", PERSIST_OUT=str(fresh))
    assert run.returncode == 0, shown(run)
    if fresh.read_text() != PERSISTED.read_text():
        diff = "".join(
            difflib.unified_diff(
                PERSISTED.read_text().splitlines(keepends=True),
                fresh.read_text().splitlines(keepends=True),
            )
        )
        pytest.fail(f"run `make clients` and commit {PERSISTED.name}\n{diff}", pytrace=False)
    assert {"SubmitTask", "TaskProgress", "CancelTask", "Task"} <= {
        re.match(r"\w+ (\w+)", text).group(1)  # type: ignore[union-attr]
        for text in documents().values()
    }


def test_the_typescript_client_runs_its_operations_as_text(
    typescript_client: Path, trusted_stack: Stack
) -> None:
    run = run_example(
        ["npm", "run", "--silent", "example", "--", *ARGS],
        trusted_stack,
        cwd=typescript_client,
        env={**example_env(trusted_stack), **NPM_ENV},
    )
    assert_followed_to_success(run, trusted_stack)


def post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.http.post("/graphql", json=body)
    assert response.status_code in (200, 400), response.text
    answer: dict[str, Any] = response.json()
    return answer


def submitted(api: Api, prompt: str) -> str:
    """A task submitted with the client's own (trusted) SubmitTask document."""
    task = {"imageGeneration": {"prompt": prompt, "steps": 1, "width": 64, "height": 64}}
    answer = post(api, {"query": documents()[hash_of("SubmitTask")], "variables": {"input": task}})
    assert not answer.get("errors"), answer
    task_id: str = answer["data"]["submitTask"]["id"]
    return task_id


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors") or []]


def test_a_trusted_document_runs_by_hash_and_by_text_however_formatted(
    trusted_stack: Stack,
) -> None:
    api = Api(trusted_stack.http_url, trusted_stack.ws_url, ALICE_KEY)
    task_id = submitted(api, "trusted")  # by text, as the client sends it

    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hash_of("Task")}}
    by_hash = post(api, {"extensions": persisted, "variables": {"id": task_id}})
    assert by_hash["data"]["task"]["id"] == task_id, by_hash

    # The same operation on one line: a text that prints as a trusted one.
    squeezed = " ".join(documents()[hash_of("Task")].split())
    assert post(api, {"query": squeezed, "variables": {"id": task_id}})["data"]["task"]


def test_anything_else_is_refused_with_a_code(trusted_stack: Stack) -> None:
    api = Api(trusted_stack.http_url, trusted_stack.ws_url, ALICE_KEY)
    assert codes(post(api, {"query": "{ tasks { id } }"})) == ["UNTRUSTED_DOCUMENT"]
    introspection = "{ __schema { types { name } } }"
    assert codes(post(api, {"query": introspection})) == ["UNTRUSTED_DOCUMENT"]
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    assert codes(post(api, {"extensions": unknown})) == ["PERSISTED_QUERY_NOT_FOUND"]
    # A hash and a text that disagree: the text is not what the hash names.
    mixed = {"persistedQuery": {"version": 1, "sha256Hash": hash_of("Task")}}
    assert codes(post(api, {"query": "{ tasks { id } }", "extensions": mixed})) == [
        "UNTRUSTED_DOCUMENT"
    ]


def test_the_websocket_refuses_an_untrusted_subscription_and_serves_the_next(
    trusted_stack: Stack,
) -> None:
    api = Api(trusted_stack.http_url, trusted_stack.ws_url, ALICE_KEY)
    task_id = submitted(api, "followed")

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with Client(transport=api.transport()) as session:
            untrusted = gql("subscription($id: ID!) { taskProgress(id: $id) { id status } }")
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(untrusted, variable_values={"id": task_id}):
                    pass
            trusted = gql(documents()[hash_of("TaskProgress")])
            events = [
                event["taskProgress"]
                async for event in session.subscribe(trusted, variable_values={"id": task_id})
            ]
            return refused.value.errors[0], events  # type: ignore[index]

    error, events = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert error["extensions"]["code"] == "UNTRUSTED_DOCUMENT", error
    assert events[-1]["status"] == "SUCCEEDED", events[-1]
