"""A webhook's `data` is the Task as GraphQL answers it: the payload the worker builds
(actors.webhooks.payload) against a query of the same fields, for tasks in each state,
so the two cannot drift; image URLs included, signed on the worker's side from this web
node's configuration (project.webhooklinks) and equal to the web's own. Also
`Task.webhook`, and submitTask's webhook refused on a server without a webhook secret
(this web node has none), or for a caller without one."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from actors.records import ResultInfo, TaskKind, TaskRecord
from actors.store.tasks import TaskStore
from actors.webhooks.config import WebhookEvent, WebhookRequest, WebhookSettings
from actors.webhooks.payload import WEBHOOK_FIELDS, task_data
from graph.errors import BadUserInput
from graph.links import LinkSigner
from graph.webhooks import WebhookInput, checked_webhook
from project.webhooklinks import WebhookLinks
from tests.actors.factories import new_task
from tests.graph.conftest import ALICE, BOB
from tests.wsclient import TRANSPORT_WS, in_process

GET = f"query Get($id: ID!) {{ task(id: $id) {{ {WEBHOOK_FIELDS} }} }}"
STATUS = (
    "query Get($id: ID!) { task(id: $id) { webhook { url events deliveries lastStatus "
    "lastError delivered } } }"
)
# What the web node of `consumer` sees as its base URL: the test communicator's scope
# has no Host header and no server.
BASE_URL = "http://localhost:80"
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
        webhook_base_url=BASE_URL,
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
    if state == "previewing":
        shown = store.report(
            started, progress=0.5, stage="denoising", preview=(32, 24, b"\x89PNG0")
        )
        assert shown is not None
        return shown
    if state == "failed":
        ended = store.fail(started, "PIPELINE_ERROR", "the pipeline failed")
    else:
        info = ResultInfo(
            width=64, height=48, seed=7, seeds=[7, 8], prompt_used="a fox", metadata={"m": 1}
        )
        ended = store.succeed(started, info, b"\x89PNG1", [b"\x89PNG2"])
    assert ended is not None
    return ended


def web_links() -> WebhookLinks:
    """The links a worker configured as this web node makes."""
    from project import services

    return WebhookLinks.from_config(services.config())


@pytest.mark.parametrize("state", ["queued", "running", "failed", "succeeded"])
def test_webhook_data_equals_the_graphql_task_of_the_same_fields(
    consumer: Any, store: TaskStore, state: str
) -> None:
    record = hooked(store, state)
    answer = ask(consumer, ALICE, GET, id=record.id)
    assert "errors" not in answer, answer
    current = store.get(record.id)
    assert current is not None
    data = task_data(current, web_links())
    assert data == answer["data"]["task"]
    if state == "succeeded":
        # Both images, each its own link under the base URL the submit saw.
        urls = [image["url"] for image in data["result"]["images"]]
        assert urls[0] == data["result"]["image"]["url"]
        assert urls[0].startswith(f"{BASE_URL}/images/{record.id}/result.png?expires=")
        assert urls[1].startswith(f"{BASE_URL}/images/{record.id}/result-1.png?expires=")


def test_a_running_task_s_preview_link_matches_the_web_s_but_for_its_expiry(
    consumer: Any, store: TaskStore
) -> None:
    # A task not finished has no expiry yet: its preview link lasts one TTL from when it
    # is made, so the web's and the webhook's may differ by the seconds between the two.
    record = hooked(store, "previewing")
    answer = ask(consumer, ALICE, GET, id=record.id)
    assert "errors" not in answer, answer
    current = store.get(record.id)
    assert current is not None
    data = task_data(current, web_links())
    mine, web = data.pop("preview"), answer["data"]["task"].pop("preview")
    assert data == answer["data"]["task"]
    assert mine.pop("url").split("?")[0] == web.pop("url").split("?")[0]
    assert mine == web == {"contentType": "image/png", "width": 32, "height": 24}


def test_image_urls_follow_the_public_url_and_are_the_web_s_signed_links(
    consumer: Any, store: TaskStore
) -> None:
    from project import services

    record = store.get(hooked(store, "succeeded").id)
    assert record is not None and record.expires_at is not None
    links = replace(web_links(), public_url="https://atelier.example")
    url = task_data(record, links)["result"]["images"][1]["url"]
    path, _, query = url.removeprefix("https://atelier.example").partition("?")
    params = dict(part.split("=") for part in query.split("&"))
    assert path == f"/images/{record.id}/result-1.png"
    signer: LinkSigner = services.link_signer()
    assert signer.check(record.id, "result-1", params["expires"], params["sig"]).value == "valid"
    # A task submitted before base URLs were kept, with no public URL: no link to give.
    older = task_data(replace(record, webhook_base_url=None), web_links())
    assert "url" not in older["result"]["image"]


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
        asyncio.run(checked_webhook(WebhookInput(url=url), settings, "alice", BASE_URL))
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "webhook.url"}


def test_an_admitted_webhook_is_passed_on_with_its_events() -> None:
    settings = WebhookSettings(secret="whsec_" + "A" * 44, allow_hosts=("127.0.0.1",))
    hook = WebhookInput(
        url="http://127.0.0.1:9/h", events=[WebhookEvent.PROGRESS, WebhookEvent.STARTED]
    )
    assert asyncio.run(checked_webhook(hook, settings, "alice", BASE_URL)) == WebhookRequest(
        "http://127.0.0.1:9/h", ("PROGRESS", "STARTED"), BASE_URL
    )


def test_a_caller_without_a_secret_of_its_own_or_a_shared_one_is_refused() -> None:
    settings = WebhookSettings(secrets={"bob": "whsec_" + "B" * 44}, allow_hosts=("127.0.0.1",))
    hook = WebhookInput(url="http://127.0.0.1:9/h")
    with pytest.raises(BadUserInput) as refused:
        asyncio.run(checked_webhook(hook, settings, "alice", BASE_URL))
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "webhook"}
    assert asyncio.run(checked_webhook(hook, settings, "bob", BASE_URL)).url == hook.url
