"""Submitting tasks: admission, recording them and sending their queue messages (the
job system's `submit` and `submit_many`, as the `Submissions` part of `JobSystem`)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

from actors.client.admission import Admission
from actors.client.translated import translated
from actors.config import JobSettings
from actors.events import publish_to_owner
from actors.kinds import spec_for
from actors.logcontext import task_context
from actors.queues.broker import Actors, send_task
from actors.records import TaskKind, TaskPriority, TaskRecord
from actors.store.outage import OUTAGES, Breaker, full_named
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


class Submissions:
    """The job system's submissions; `JobSystem` supplies the parts named here."""

    store: TaskStore
    _actors: Actors
    _admission: Admission
    _settings: JobSettings
    _layer: Any
    _breaker: Breaker

    async def _publish(self, record: TaskRecord) -> None: ...

    async def submit(
        self,
        owner: str,
        kind: TaskKind,
        params: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        *,
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookRequest | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
        vet: Callable[[], Awaitable[None]] | None = None,
    ) -> TaskRecord:
        """Record a QUEUED task and enqueue it. With a known idempotency key, the first task.
        With `deadline_seconds`, a task not finished that long after it is recorded ends
        CANCELLED (DEADLINE_EXCEEDED), decided in Redis. `webhook`: checked already.
        `priority` orders it in its queue ahead of fair share and age (see TaskStore).

        Raises `Refused` when the owner submits too fast or has too many unfinished
        tasks, or the queues are full; a repeat of a known idempotency key is never
        refused. Raises `StoreUnavailable` during a Redis outage.

        `vet`, when given, runs once the submission is admitted and before anything is
        recorded: the place for checks too costly to spend on a caller who would be
        refused (decoding images). What it raises propagates, and the submit token
        admission took stays spent: the caller made the server work.
        """
        options = Options(deadline_seconds, webhook, priority)
        (record,) = await self._submit(
            owner, [NewTask(kind, params, inputs)], [idempotency_key], options, vet
        )
        return record

    async def submit_many(
        self,
        owner: str,
        tasks: Sequence[NewTask],
        *,
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookRequest | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
        vet: Callable[[], Awaitable[None]] | None = None,
    ) -> list[TaskRecord]:
        """`submit` for several tasks at once, admitted all or none: each counts against
        the submit rate and the unfinished-task and queue limits (a batch larger than a
        full token bucket is refused OVER_BURST). One idempotency key covers the batch:
        a repeat returns the same tasks, and one whose first try died part way through
        recording them records the rest."""
        keys = [
            None if idempotency_key is None else f"batch:{idempotency_key}:{i}"
            for i in range(len(tasks))
        ]
        options = Options(deadline_seconds, webhook, priority)
        return await self._submit(owner, tasks, keys, options, vet)

    async def _submit(
        self,
        owner: str,
        tasks: Sequence[NewTask],
        keys: Sequence[str | None],
        options: Options,
        vet: Callable[[], Awaitable[None]] | None,
    ) -> list[TaskRecord]:
        for task in tasks:
            expected = spec_for(task.kind).inputs
            if sorted(task.inputs) != sorted(expected):  # a caller's bug, not a client's
                raise ValueError(
                    f"{task.kind} takes the input images {expected}, not {sorted(task.inputs)}"
                )
        earlier = await self._earlier(owner, keys)
        missing = [i for i, found in enumerate(earlier) if found is None]
        if missing:
            await self._admit(owner, len(missing))
            if vet is not None:
                await vet()
        records = list(earlier)
        for i in missing:
            record = new_record(self._settings, owner, tasks[i], options)
            records[i] = created = await self._create(record, tasks[i].inputs, keys[i])
            await self._announce(created)
        return [record for record in records if record is not None]

    async def _announce(self, record: TaskRecord) -> None:
        """A task just created has no event of its own yet: its owner's followers
        (`myTasks`) hear of it on the owner's group."""
        try:
            await publish_to_owner(self._layer, record)
        except Exception as error:  # followers find it at their next resync
            logger.warning("task %s: its creation was not announced: %s", record.id, error)

    @translated
    async def _earlier(self, owner: str, keys: Sequence[str | None]) -> list[TaskRecord | None]:
        """The tasks known idempotency keys name (None where a key is new or absent)."""
        found: list[TaskRecord | None] = []
        for key in keys:
            earlier = None
            if key is not None:
                earlier = await asyncio.to_thread(self.store.find_idempotent, owner, key)
            found.append(earlier)
        return found

    @translated
    async def _admit(self, owner: str, count: int) -> None:
        """Take `count` submit tokens, or raise `Refused`."""
        await asyncio.to_thread(
            self._admission.admit,
            owner,
            self.store.live_key(owner),
            [self.store.queue_key(queue) for queue in self._settings.queues],
            count,
        )

    @translated
    async def _create(
        self, record: TaskRecord, inputs: Mapping[str, bytes], idempotency_key: str | None
    ) -> TaskRecord:
        return await record_and_send(
            self.store, self._actors, record, inputs, idempotency_key, self._publish
        )
