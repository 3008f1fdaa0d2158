"""The demo and ops pages on a node that runs only trusted documents
(ATELIER_TRUSTED_DOCUMENTS: here the TypeScript client's map, which holds none of the
pages' documents): the node trusts the documents of the pages it serves
(project/pagedocuments.py), so both pages work in headless Chromium as on any node,
while anything else is refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from project.pagedocuments import PAGES, document_of
from tests.api.scenarios import held_generation
from tests.demo.browser import DemoPage, chromium
from tests.demo.test_ops_page import OpsPage
from tests.stack import ALICE_KEY, OPS_KEY, ROOT, Stack, running_stack

CLIENT_DOCUMENTS = ROOT / "clients" / "typescript" / "persisted-documents.json"


@pytest.fixture(scope="module")
def trusted_stack(
    browser_binaries: tuple[str, str],  # skips before the stack starts, without a browser
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    env = {
        "ATELIER_TRUSTED_DOCUMENTS": str(CLIENT_DOCUMENTS),
        "ATELIER_PRELOAD": "IMAGE_GENERATION",
    }
    folder = tmp_path_factory.mktemp("trusted-pages")
    with running_stack(redis_url, folder, stack_models, env) as stack:
        yield stack


def client_operation(name: str) -> str:
    documents: dict[str, str] = json.loads(CLIENT_DOCUMENTS.read_text())
    return next(text for text in documents.values() if re.match(rf"\w+ {name}\b", text))


def graphql(stack: Stack, key: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    answer: dict[str, Any] = httpx.post(
        f"{stack.http_url}/graphql", json=body, headers=headers, timeout=30
    ).json()
    return answer


def test_the_pages_documents_are_not_in_the_client_map_and_others_are_refused(
    trusted_stack: Stack,
) -> None:
    client_texts = set(json.loads(CLIENT_DOCUMENTS.read_text()).values())
    assert not {document_of(page) for page in PAGES} & client_texts
    refused = graphql(trusted_stack, ALICE_KEY, {"query": "{ tasks { id } }"})
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["UNTRUSTED_DOCUMENT"]


def test_the_demo_page_runs_a_task_on_a_trusted_node(
    browser_binaries: tuple[str, str], trusted_stack: Stack
) -> None:
    with chromium(*browser_binaries) as driver:
        demo = DemoPage(driver, trusted_stack.http_url)
        demo.open()
        demo.fill(api_key=ALICE_KEY, prompt="a trusted fox", width=64, height=64, steps=2)
        demo.set_checked("refine-prompt", False)
        demo.run()
        assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
        sent = demo.last_post().operations
    assert sent["operationName"] == "Submit"
    assert sent["query"] == document_of(PAGES[0])


def test_the_ops_page_follows_and_cancels_on_a_trusted_node(
    browser_binaries: tuple[str, str], trusted_stack: Stack, tmp_path: Path
) -> None:
    task = held_generation("cancelled from a trusted ops page")
    answer = graphql(
        trusted_stack,
        ALICE_KEY,
        {"query": client_operation("SubmitTask"), "variables": {"input": task}},
    )
    task_id = answer["data"]["submitTask"]["id"]
    with chromium(*browser_binaries) as driver:
        page = OpsPage(driver, trusted_stack.http_url, tmp_path / "screenshots")
        page.open()
        page.connect(OPS_KEY)
        page.wait_until(lambda: page.state == "live" and page.updates >= 1)
        page.wait_until(lambda: page.running_row(task_id))
        page.cancel(task_id)

        def ended() -> str | None:
            body = {"query": client_operation("Task"), "variables": {"id": task_id}}
            status: str = graphql(trusted_stack, ALICE_KEY, body)["data"]["task"]["status"]
            return status if status in ("SUCCEEDED", "FAILED", "CANCELLED") else None

        assert page.wait_until(ended) == "CANCELLED", page.describe()
        assert page.error() == ("", "") and page.browser_errors() == [], page.describe()
