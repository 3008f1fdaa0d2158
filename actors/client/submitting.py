"""Recording submitted tasks and sending their queue messages (the job system's submit)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from actors.config import JobSettings
from actors.logcontext import task_context
from actors.queues.broker import Actors, send_task
from actors.records import TaskKind, TaskPriority, TaskRecord
from actors.store.outage import OUTAGES, full_named
from actors.store.tasks import TaskStore
from actors.webhooks.config import WebhookRequest

logger = logging.getLogger("actors.client.jobsystem")


class EnqueueFailed(Exception):
    """The task was recorded but could not be queued; it is marked FAILED."""


class NewTask(NamedTuple):
    """One task to submit: its kind, pipeline parameters and input images."""

    kind: TaskKind
    params: Mapping[str, Any]
    inputs: Mapping[str, bytes]


class Options(NamedTuple):
    """What the tasks of one submission share."""

    deadline_seconds: int | None
    webhook: WebhookRequest | None
    priority: TaskPriority


def new_record(settings: JobSettings, owner: str, task: NewTask, options: Options) -> TaskRecord:
    webhook = options.webhook
    return TaskRecord(
        id=str(uuid.uuid4()),
        kind=task.kind,
        owner=owner,
        queue=settings.queue_for(task.kind, task.params.get("model")),
        params=dict(task.params),
        deadline_seconds=options.deadline_seconds,
        priority=options.priority,
        webhook_url=webhook.url if webhook else None,
        webhook_events=",".join(webhook.events) if webhook else None,
        webhook_base_url=webhook.base_url if webhook else None,
    )


async def record_and_send(
    store: TaskStore,
    actors: Actors,
    record: TaskRecord,
    inputs: Mapping[str, bytes],
    idempotency_key: str | None,
    publish: Callable[[TaskRecord], Awaitable[None]],
) -> TaskRecord:
    """Record a QUEUED task and send its queue message; the task an idempotency key
    already names, instead, when it does."""
    with task_context(record.id):  # the web's log lines about it carry its id
        record, created = await asyncio.to_thread(
            store.create, record, inputs, idempotency_key=idempotency_key
        )
        if not created:
            return record
        try:
            with full_named():
                await asyncio.to_thread(send_task, actors, record)
        except OUTAGES as error:
            # Recorded and marked undispatched in one step: a sweep sends its message
            # once Redis takes writes again, as if this process had died here. At a
            # full Redis's edge the record fits and the message no longer does.
            logger.warning("task %s recorded; its message waits for Redis: %s", record.id, error)
            return record
        except Exception as error:
            logger.exception("could not enqueue task %s", record.id)
            failed = await asyncio.to_thread(
                store.fail, record, "ENQUEUE_FAILED", "the task could not be queued"
            )
            if failed is not None:
                await publish(failed)
            raise EnqueueFailed(record.id) from error
        try:
            await asyncio.to_thread(store.dispatched, record.id)
        except Exception:
            # The task is queued either way; the sweeper sends a second message,
            # which the worker drops (actors.store.tasks: leases and dispatch).
            logger.warning("task %s sent but not marked dispatched", record.id, exc_info=True)
        return record
