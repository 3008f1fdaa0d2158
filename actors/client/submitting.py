"""Submitting tasks: admission, recording them and sending their queue messages (the
job system's `submit` and `submit_many`, as the `Submissions` part of `JobSystem`)."""

from __future__ import annotations

import asyncio
import functools
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
from actors.store.gate import Gate
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


class Recorded(NamedTuple):
    """What recording a submission's tasks came to: each task (new or an idempotency
    key's), the new ones among them, and the enqueue failure that stopped it, if any
    (the task it ended FAILED, None when that write did not apply, and the error)."""

    records: list[TaskRecord]
    created: list[TaskRecord]
    failure: tuple[TaskRecord | None, Exception] | None = None


NewRecords = Sequence[tuple[TaskRecord, Mapping[str, bytes], str | None]]


def record_and_send(
    store: TaskStore,
    actors: Actors,
    tasks: NewRecords,
    *,
    earlier: Sequence[TaskRecord | None] | None = None,
    gate: Callable[[int], Gate] | None = None,
) -> Recorded:
    """Record each (task, inputs, idempotency key) QUEUED and send its queue message;
    the task a key already names, instead, when it does (`earlier`: those found
    already, looked up here when not given). With `gate`, the tasks to record are
    admitted all or none (`gate(how many)`), with the first one recorded: `Refused`,
    and nothing is. Synchronous, so that a whole submission is one call off the event
    loop. Stops at the first task whose message could not be sent for a reason other
    than an outage (see `Recorded`)."""
    if earlier is None:
        # One task's key is looked up by the create script itself, before admission.
        earlier = _earlier(store, tasks) if len(tasks) > 1 else [None]
    admission = gate(earlier.count(None)) if gate is not None else None
    records: list[TaskRecord] = []
    created: list[TaskRecord] = []
    for (record, inputs, idempotency_key), found in zip(tasks, earlier, strict=True):
        if found is not None:
            records.append(found)
            continue
        with task_context(record.id):  # the web's log lines about it carry its id
            record, new = store.create(
                record, inputs, idempotency_key=idempotency_key, gate=admission
            )
            records.append(record)
            if not new:  # its key was used meanwhile, for the task returned
                continue
            admission = None  # decided with this task, for all of them
            created.append(record)
            failure = _send(store, actors, record)
            if failure is not None:
                return Recorded(records, created, failure)
    return Recorded(records, created)


def _earlier(store: TaskStore, tasks: NewRecords) -> list[TaskRecord | None]:
    """The tasks known idempotency keys name (None where a key is new or absent)."""
    return [
        None if key is None else store.find_idempotent(record.owner, key)
        for record, _, key in tasks
    ]


def _send(
    store: TaskStore, actors: Actors, record: TaskRecord
) -> tuple[TaskRecord | None, Exception] | None:
    """Send a recorded task's queue message; the failure to report, if any."""
    try:
        with full_named():
            send_task(actors, record)
    except OUTAGES as error:
        # Recorded and marked undispatched in one step: a sweep sends its message
        # once Redis takes writes again, as if this process had died here. At a
        # full Redis's edge the record fits and the message no longer does.
        logger.warning("task %s recorded; its message waits for Redis: %s", record.id, error)
        return None
    except Exception as error:
        logger.exception("could not enqueue task %s", record.id)
        return store.fail(record, "ENQUEUE_FAILED", "the task could not be queued"), error
    try:
        store.dispatched(record.id)
    except Exception:
        # The task is queued either way; the sweeper sends a second message,
        # which the worker drops (actors.store.tasks: leases and dispatch).
        logger.warning("task %s sent but not marked dispatched", record.id, exc_info=True)
    return None


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
        admission took stays spent: the caller made the server work. Without one,
        admission is decided in the same step as the record, and the whole submission
        (admission, record, queue message) is one call off the event loop.
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
        new = [
            (new_record(self._settings, owner, task, options), task.inputs, key)
            for task, key in zip(tasks, keys, strict=True)
        ]
        if vet is None:
            gate = functools.partial(self._admission.gate, owner, self._queue_keys)
            recorded = await self._recorded(new, gate=gate)
        else:
            recorded = await self._vetted(owner, new, vet)
        for record in recorded.created:
            await self._announce(record)
        if recorded.failure is not None:
            failed, error = recorded.failure
            if failed is not None:
                await self._publish(failed)
            raise EnqueueFailed(recorded.created[-1].id) from error
        return recorded.records

    async def _vetted(
        self, owner: str, new: NewRecords, vet: Callable[[], Awaitable[None]]
    ) -> Recorded:
        """Admission, then `vet`, then the records: for a submission with checks too
        costly to spend on a caller who would be refused. Tasks that idempotency keys
        name already are neither admitted again nor vetted."""
        earlier = await self._earlier(new)
        missing = earlier.count(None)
        if missing:
            await self._admit(owner, missing)
            await vet()
        return await self._recorded(new, earlier=earlier)

    async def _announce(self, record: TaskRecord) -> None:
        """A task just created has no event of its own yet: its owner's followers
        (`myTasks`) hear of it on the owner's group."""
        try:
            await publish_to_owner(self._layer, record)
        except Exception as error:  # followers find it at their next resync
            logger.warning("task %s: its creation was not announced: %s", record.id, error)

    @translated
    async def _earlier(self, new: NewRecords) -> list[TaskRecord | None]:
        if not any(key for _, _, key in new):
            return [None] * len(new)
        return await asyncio.to_thread(_earlier, self.store, new)

    @translated
    async def _admit(self, owner: str, count: int) -> None:
        """Take `count` submit tokens, or raise `Refused`."""
        await asyncio.to_thread(
            self._admission.admit, owner, self.store.live_key(owner), self._queue_keys, count
        )

    @translated
    async def _recorded(
        self,
        new: NewRecords,
        *,
        earlier: Sequence[TaskRecord | None] | None = None,
        gate: Callable[[int], Gate] | None = None,
    ) -> Recorded:
        return await asyncio.to_thread(
            record_and_send, self.store, self._actors, new, earlier=earlier, gate=gate
        )

    @functools.cached_property
    def _queue_keys(self) -> tuple[str, ...]:
        """Every queue's waiting set: the queue limit counts them all."""
        return tuple(self.store.queue_key(queue) for queue in self._settings.queues)
