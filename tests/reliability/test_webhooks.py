"""Webhooks on a live stack: a receiver that fails the first attempts and then verifies
the signature with the `standardwebhooks` package; the same webhook-id on every retry;
Task.webhook; STARTED and COMPLETED; a worker SIGKILLed mid-delivery losing none; and
callers with secrets of their own (ATELIER_WEBHOOK_SECRETS), whose COMPLETED body is
the Task as the API answers it, image links that open the PNG included.

Backoff, dispatch polling and the delivery lease are made short by the environment,
and every wait is for a state with a generous timeout, never a sleep.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from actors.config import JobSettings
from actors.webhooks.config import QUEUE
from actors.webhooks.payload import WEBHOOK_FIELDS
from tests.actors.webhooks.receiver import Received, receiving
from tests.client import Api
from tests.stack import BOB_KEY, OPS_KEY, WORKER_READY, Process, Stack
from tests.stepgate import held

SECRET = "whsec_" + base64.b64encode(b"live-stack-webhook-secret-0123456").decode()
# bob and ops (an admin key) sign with their own; alice with the shared SECRET.
BOB_SECRET = "whsec_" + base64.b64encode(b"bob's-own-live-webhook-secret-01").decode()
OPS_SECRET = "whsec_" + base64.b64encode(b"ops-own-live-webhook-secret-0123").decode()
ENV = {
    "ATELIER_WEBHOOK_SECRET": SECRET,
    "ATELIER_WEBHOOK_SECRETS": f"bob={BOB_SECRET},ops={OPS_SECRET}",
    "ATELIER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "ATELIER_WEBHOOK_BACKOFF": "0.2",
    "ATELIER_WEBHOOK_POLL": "0.05",
    "ATELIER_WEBHOOK_LEASE": "3",
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
}
QUICK = {"imageGeneration": {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2}}
SUBMIT = """
mutation Submit($input: SubmitTaskInput!, $webhook: WebhookInput) {
  submitTask(input: $input, webhook: $webhook) { id status webhook { url events } }
}"""
TASK = f"query Get($id: ID!) {{ task(id: $id) {{ {WEBHOOK_FIELDS} }} }}"
STATUS = """
query Get($id: ID!) {
  task(id: $id) { status finishedAt
    webhook { url events deliveries lastStatus lastError delivered } }
}"""


@pytest.fixture(scope="module")
def web(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with Stack(redis_url, tmp_path_factory.mktemp("hooks"), stack_models, ENV).held() as stack:
        stack.start_web()
        yield stack


@pytest.fixture
def api(web: Stack) -> Api:
    return Api(web.http_url, web.ws_url)


@pytest.fixture
def workers(web: Stack) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def start_worker(web: Stack, workers: list[Process], queues: list[str] | None = None) -> Process:
    process = web.start_worker(queues=queues)
    workers.append(process)
    web.wait_for_log(process, WORKER_READY)
    return process


def submit(api: Api, url: str, events: list[str], task: dict[str, Any] = QUICK) -> str:
    webhook = {"url": url, "events": events}
    return str(api.data(SUBMIT, input=task, webhook=webhook)["submitTask"]["id"])


def status(
    api: Api, task_id: str, until: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    """The task once `until` holds of it (by default: its COMPLETED event delivered)."""
    deadline = time.monotonic() + 90
    while True:
        task = dict(api.data(STATUS, id=task_id)["task"])
        if (until or delivered)(task) or time.monotonic() > deadline:
            return task
        time.sleep(0.05)


def delivered(task: dict[str, Any]) -> bool:
    return bool(task["webhook"]["delivered"])


def verified(received: Received) -> dict[str, Any]:
    return dict(Webhook(SECRET).verify(received.body, received.headers))


def test_a_failing_receiver_gets_the_completed_event_retried_under_one_id(
    api: Api, web: Stack, workers: list[Process]
) -> None:
    start_worker(web, workers)
    with receiving([500, 500]) as receiver:
        task_id = submit(api, receiver.url, ["STARTED", "COMPLETED"])
        status(api, task_id)
        # Every attempt answered, and each counted (after its answer) on the task.
        done = receiver.wait_for_answered({"task.started", "task.completed"}, SECRET, 90)
        final = status(api, task_id, lambda t: t["webhook"]["deliveries"] >= len(done))
        received = list(receiver.received)
    assert final["status"] == "SUCCEEDED"
    started = [r for r in received if verified(r)["type"] == "task.started"]
    completed = [r for r in received if verified(r)["type"] == "task.completed"]
    # The receiver's script failed the first two requests, whichever event they were.
    assert sum(r.status == 500 for r in received) == 2
    assert started and completed[-1].status == 200
    assert len({r.headers["webhook-id"] for r in completed}) == 1
    assert len({r.headers["webhook-id"] for r in started + completed}) == 2
    event = verified(completed[-1])
    assert event["data"]["id"] == task_id and event["data"]["status"] == "SUCCEEDED"
    assert event["data"]["result"]["image"]["width"] == 64
    assert verified(started[0])["data"]["status"] in ("RUNNING", "SUCCEEDED")
    assert final["webhook"] == {
        "url": receiver.url,
        "events": ["COMPLETED", "STARTED"],
        "deliveries": len(received),
        "lastStatus": 200,
        "lastError": None,
        "delivered": True,
    }
    print(
        f"\nwebhook retries observed: {len(completed) - 1} for COMPLETED, "
        f"{len(started) - 1} for STARTED"
    )


def test_delivery_latency_after_the_terminal_event(
    api: Api, web: Stack, workers: list[Process]
) -> None:
    # A worker for the tasks, another for the webhooks, as in production.
    start_worker(web, workers, JobSettings().queues)
    start_worker(web, workers, [QUEUE])
    with receiving() as receiver:
        ids = [submit(api, receiver.url, ["COMPLETED"]) for _ in range(12)]
        finals = {task_id: status(api, task_id) for task_id in ids}
        received = receiver.received
    firsts = {verified(r)["data"]["id"]: r.at for r in received}
    assert set(firsts) == set(ids)
    latencies = sorted(
        firsts[i] - datetime.fromisoformat(finals[i]["finishedAt"]).timestamp() for i in ids
    )
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"\nwebhook delivery after the terminal event: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms (n={len(latencies)})"
    )
    assert all(finals[i]["webhook"]["delivered"] for i in ids)


def test_a_worker_killed_mid_delivery_loses_no_delivery(
    api: Api, web: Stack, workers: list[Process]
) -> None:
    first = start_worker(web, workers)
    with receiving() as receiver:
        holding = receiver.hold_first()
        task_id = submit(api, receiver.url, ["COMPLETED"])
        assert holding.wait(90), "the first attempt never arrived"
        first.kill()  # while it waits for the receiver's answer
        receiver.release()
        start_worker(web, workers)
        final = status(api, task_id)
        received = receiver.received
    assert final["webhook"]["delivered"], final
    assert len(received) >= 2 and received[0].status == 0
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert verified(received[-1])["data"]["status"] == "SUCCEEDED"


def test_a_cancelled_queued_task_is_delivered_by_a_worker(
    api: Api, web: Stack, workers: list[Process]
) -> None:
    # No worker runs it: the web cancels it, the COMPLETED delivery waits in Redis.
    held_task = {"imageGeneration": {**QUICK["imageGeneration"], "prompt": held("waits")}}
    with receiving() as receiver:
        task_id = submit(api, receiver.url, ["COMPLETED"], held_task)
        api.cancel(task_id)
        start_worker(web, workers)
        final = status(api, task_id)
        [delivery] = receiver.received
    assert final["status"] == "CANCELLED" and final["webhook"]["delivered"]
    assert json.loads(delivery.body)["data"]["error"]["code"] == "CANCELLED"


def test_each_caller_s_webhooks_are_signed_with_its_own_secret(
    web: Stack, workers: list[Process]
) -> None:
    start_worker(web, workers)
    callers = {
        "bob": (Api(web.http_url, web.ws_url, BOB_KEY), BOB_SECRET),
        "ops": (Api(web.http_url, web.ws_url, OPS_KEY), OPS_SECRET),
    }
    with receiving() as bobs, receiving() as opss:
        receivers = {"bob": bobs, "ops": opss}
        ids = {
            name: submit(api, receivers[name].url, ["COMPLETED"])
            for name, (api, _) in callers.items()
        }
        for name, (api, _) in callers.items():
            assert status(api, ids[name])["webhook"]["delivered"]
    for name, (api, secret) in callers.items():
        other = OPS_SECRET if name == "bob" else BOB_SECRET
        [received] = receivers[name].received
        event = Webhook(secret).verify(received.body, received.headers)
        with pytest.raises(Exception, match=r"(?i)signature"):
            Webhook(other).verify(received.body, received.headers)
        with pytest.raises(Exception, match=r"(?i)signature"):
            Webhook(SECRET).verify(received.body, received.headers)
        # The body's data is the Task as its owner's query of the same fields answers,
        # its signed image links included (the task has its expiry: the same links).
        assert event["data"] == api.data(TASK, id=ids[name])["task"]
        image = httpx.get(event["data"]["result"]["image"]["url"], timeout=30)
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG")
