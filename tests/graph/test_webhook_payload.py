"""A webhook's `data` is the Task as GraphQL answers it: the payload the worker builds
(actors.webhooks.payload) against a query of the same fields, for tasks in each state,
so the two cannot drift. Also `Task.webhook`, and submitTask's webhook refused on a
server without a webhook secret (this web node has none)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from actors.records import ResultInfo, TaskKind, TaskRecord
from actors.store.tasks import TaskStore
from actors.webhooks.config import WebhookEvent, WebhookSettings
from actors.webhooks.payload import WEBHOOK_FIELDS, task_data
from graph.errors import BadUserInput
from graph.webhooks import WebhookInput, checked_webhook
from tests.actors.factories import new_task
from tests.graph.conftest import ALICE, BOB
from tests.wsclient import TRANSPORT_WS, in_process

GET = f"query Get($id: ID!) {{ task(id: $id) {{ {WEBHOOK_FIELDS} }} }}"
STATUS = (
    "query Get($id: ID!) { task(id: $id) { webhook { url events deliveries lastStatus "
    "lastError delivered } } }"
)
SUBMIT = (
    'mutation { submitTask(input: {imageGeneration: {prompt: "a fox"}}, '
    'webhook: {url: "https://example.com/hook"}) { id } }'
)


def ask(consumer: Any, key: str, query: str, **variables: Any) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with in_process(consumer, TRANSPORT_WS, key) as session:
            return await session.execute("1", query, **variables)

    return asyncio.run(main())


def hooked(store: TaskStore, state: str) -> TaskRecord:
    record = replace(
        new_task("alice", kind=TaskKind.IMAGE_GENERATION),
        webhook_url="https://example.com/hook",
        webhook_events="COMPLETED,PROGRESS",
        deadline_seconds=3600,
    )
    created, _ = store.create(record, {})
    if state == "queued":
        return created
    started = store.start(created.id)
    assert started is not None
    if state == "running":
        moved = store.report(started, progress=0.4, stage="denoising", step=4, total_steps=10)
        assert moved is not None
        return moved
    if state == "failed":
        ended = store.fail(started, "PIPELINE_ERROR", "the pipeline failed")
    else:
        info = ResultInfo(
            width=64, height=48, seed=7, seeds=[7, 8], prompt_used="a fox", metadata={"m": 1}
        )
        ended = store.succeed(started, info, b"\x89PNG1", [b"\x89PNG2"])
    assert ended is not None
    return ended


@pytest.mark.parametrize("state", ["queued", "running", "failed", "succeeded"])
def test_webhook_data_equals_the_graphql_task_of_the_same_fields(
    consumer: Any, store: TaskStore, state: str
) -> None:
    record = hooked(store, state)
    answer = ask(consumer, ALICE, GET, id=record.id)
    assert "errors" not in answer, answer
    current = store.get(record.id)
    assert current is not None
    assert task_data(current) == answer["data"]["task"]


def test_task_webhook_shows_its_deliveries_to_its_owner_only(
    consumer: Any, store: TaskStore
) -> None:
    record = hooked(store, "failed")
    store.client.hset(
        store.key(record.id),
        mapping={"webhook_deliveries": 2, "webhook_status": 500, "webhook_error": "HTTP 500"},
    )
    mine = ask(consumer, ALICE, STATUS, id=record.id)["data"]["task"]["webhook"]
    assert mine == {
        "url": "https://example.com/hook",
        "events": ["COMPLETED", "PROGRESS"],
        "deliveries": 2,
        "lastStatus": 500,
        "lastError": "HTTP 500",
        "delivered": False,
    }
    assert ask(consumer, BOB, STATUS, id=record.id)["data"]["task"] is None


def test_a_webhook_is_refused_without_a_configured_secret(consumer: Any) -> None:
    answer = ask(consumer, ALICE, SUBMIT)
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "webhook"
    assert "ATELIER_WEBHOOK_SECRET" in error["message"]


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/hook", "https://10.0.0.7/hook", "https://[::1]:8443/x"]
)
def test_a_webhook_url_not_admitted_is_bad_user_input_on_its_field(url: str) -> None:
    settings = WebhookSettings(secret="whsec_" + "A" * 44)
    with pytest.raises(BadUserInput) as refused:
        asyncio.run(checked_webhook(WebhookInput(url=url), settings))
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "webhook.url"}


def test_an_admitted_webhook_is_passed_on_with_its_events() -> None:
    settings = WebhookSettings(secret="whsec_" + "A" * 44, allow_hosts=("127.0.0.1",))
    hook = WebhookInput(
        url="http://127.0.0.1:9/h", events=[WebhookEvent.PROGRESS, WebhookEvent.STARTED]
    )
    assert asyncio.run(checked_webhook(hook, settings)) == (
        "http://127.0.0.1:9/h",
        ["PROGRESS", "STARTED"],
    )
