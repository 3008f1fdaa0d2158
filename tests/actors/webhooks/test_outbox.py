"""The webhook outbox in Redis: COMPLETED recorded by every path that ends a task,
STARTED/PROGRESS as the worker publishes, claims and their settling."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import redis

from actors.records import ResultInfo, TaskRecord, TaskStatus
from actors.store.outbox import Attempt, WebhookOutbox
from actors.store.tasks import TaskStore
from actors.webhooks.events import WebhookEvents
from tests.actors.factories import created, lapse, new_task, running


@pytest.fixture
def outbox(client: redis.Redis, prefix: str, store: TaskStore) -> WebhookOutbox:
    return WebhookOutbox(client, prefix=prefix, ttl=60)


def hooked(events: str = "COMPLETED") -> TaskRecord:
    return replace(new_task(), webhook_url="https://example.com/hook", webhook_events=events)


def due(outbox: WebhookOutbox) -> list[str]:
    return [name.decode() for name in outbox.client.zrange(outbox.webhooks_key, 0, -1)]


def test_succeeding_records_the_completed_delivery_in_the_same_step(
    store: TaskStore, outbox: WebhookOutbox
) -> None:
    task = running(store, hooked())
    assert due(outbox) == []
    store.succeed(task, ResultInfo(width=8, height=8), b"png")
    assert due(outbox) == [f"{task.id}:completed"]


@pytest.mark.parametrize("path", ["fail", "cancel_queued", "deadline", "worker_lost"])
def test_every_path_that_ends_a_task_records_its_completed_delivery(
    store: TaskStore, outbox: WebhookOutbox, path: str
) -> None:
    if path == "fail":
        task = running(store, hooked())
        store.fail(task, "PIPELINE_ERROR", "boom")
    elif path == "cancel_queued":
        task = created(store, hooked())
        store.cancel(task.id)
    elif path == "deadline":
        task = created(store, replace(hooked(), deadline_seconds=1))
        store.client.hset(store.key(task.id), "deadline_ms", 1)
        store.enforce_deadline(task.id)
    else:
        task = running(store, hooked())
        lapse(store, task.id)
        store.reap(task.id, max_attempts=1)
    ended = store.get(task.id)
    assert ended is not None and ended.status.terminal
    assert due(outbox) == [f"{task.id}:completed"]


def test_a_task_without_a_webhook_or_not_asking_for_its_end_records_none(
    store: TaskStore, outbox: WebhookOutbox
) -> None:
    for record in (new_task(), hooked("STARTED,PROGRESS")):
        task = running(store, record)
        store.fail(task, "PIPELINE_ERROR", "boom")
    assert due(outbox) == []


def test_inputs_still_go_with_the_task_after_the_webhook_key(store: TaskStore) -> None:
    task = created(store, hooked(), image=b"input bytes")
    assert store.client.get(store.key(task.id, "input:image")) == b"input bytes"
    store.cancel(task.id)
    assert not store.client.exists(store.key(task.id, "input:image"))


def test_started_once_per_run_and_progress_at_most_once_per_window(
    store: TaskStore, outbox: WebhookOutbox
) -> None:
    events = WebhookEvents(outbox, interval_ms=60_000)
    task = running(store, hooked("STARTED,PROGRESS,COMPLETED"))
    events(task)
    events(task)
    for step in range(5):
        moved = store.report(task, progress=step / 10, stage="denoising", step=step)
        assert moved is not None
        events(moved)
    names = due(outbox)
    assert names.count(f"{task.id}:started:1") == 1
    progress = [name for name in names if ":progress:" in name]
    assert len(progress) == 1  # one window: one delivery, made from the latest state
    window = int(progress[0].rsplit(":", 1)[1])
    assert outbox.client.zscore(outbox.webhooks_key, progress[0]) == (window + 1) * 60_000


def test_a_claim_holds_a_delivery_until_settled_or_lapsed(
    store: TaskStore, outbox: WebhookOutbox
) -> None:
    task = created(store, hooked())
    store.cancel(task.id)
    name = f"{task.id}:completed"
    [(claimed, token)] = outbox.claim(10, lease_ms=60_000)
    assert claimed == name and outbox.holds(name, token)
    assert outbox.claim(10, lease_ms=60_000) == []  # held: not due again
    failed = Attempt(status=500, error="HTTP 500", delivered=False, retry_in=0.0)
    assert outbox.settle(name, token, task.id, failed)
    assert not outbox.settle(name, token, task.id, failed)  # that claim is over
    record = store.get(task.id)
    assert record is not None
    assert (record.webhook_deliveries, record.webhook_status) == (1, 500)
    assert record.webhook_error == "HTTP 500" and not record.webhook_delivered
    time.sleep(0.01)
    [(_, again)] = outbox.claim(10, lease_ms=1)  # due again at once (retry_in 0)
    time.sleep(0.01)
    [(_, lapsed)] = outbox.claim(10, lease_ms=60_000)  # its 1 ms lease lapsed
    assert not outbox.holds(name, again) and outbox.holds(name, lapsed)
    ok = Attempt(status=204, error=None, delivered=True, retry_in=None)
    assert outbox.settle(name, lapsed, task.id, ok)
    assert due(outbox) == []
    record = store.get(task.id)
    assert record is not None and record.status is TaskStatus.CANCELLED
    assert (record.webhook_deliveries, record.webhook_status, record.webhook_error) == (
        2,
        204,
        None,
    )
    assert record.webhook_delivered
