"""The job system as `graph/` sees it: submit, cancel, get, list, watch, and the
operators' view (queues, running tasks, workers). Async throughout."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

from actors.client.admission import Admission
from actors.client.eta import Estimate, Estimator
from actors.client.following import follow
from actors.client.overview import Overview, QueueDepth, RunningTask
from actors.client.submitting import (
    NewTask,
    Options,
    new_record,
    record_and_send,
)
from actors.config import JobSettings
from actors.events import TaskChanged, group_name, publish
from actors.kinds import spec_for
from actors.logcontext import task_context
from actors.queues.broker import Actors
from actors.records import TaskKind, TaskPriority, TaskRecord, TaskStatus, is_task_id
from actors.store.dispatch import Dispatcher
from actors.store.outage import (
    Breaker,
    Comebacks,
    StoreUnavailable,
    outages_raise_unavailable,
)
from actors.store.registry import WorkerInfo, WorkerRegistry
from actors.store.runtimes import RunTimes
from actors.store.tasks import TaskStore
from actors.webhooks.config import WebhookRequest

logger = logging.getLogger(__name__)


_inside: ContextVar[bool] = ContextVar("atelier_job_system_call", default=False)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _translated(
    method: Callable[Concatenate[JobSystem, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[JobSystem, _P], Coroutine[Any, Any, _T]]:
    """Outages become `StoreUnavailable`, and pass through the job system's breaker."""

    @functools.wraps(method)
    async def wrapper(self: JobSystem, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if _inside.get():  # a call within a call (cancel reads the task first)
            return await method(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            with self._breaker.passage(), outages_raise_unavailable():
                return await method(self, *args, **kwargs)
        finally:
            _inside.reset(token)

    return wrapper


# listen(message type, group): joins the channel-layer group and gives its messages of
# that type until left (the transport's side of `JobSystem.watch`).
Listen = Callable[[str, str], AbstractAsyncContextManager[AsyncIterable[dict[str, Any]]]]


class JobSystem:
    """The job system for the web: `actors.interface.Jobs`, on Redis and Dramatiq.

    Submitting admits the caller (`Admission`), records the task QUEUED and sends its
    Dramatiq message; a task recorded but not sent is left for a worker's sweep to
    send. Each owner sees only their own tasks. While Redis cannot be reached every
    call raises `StoreUnavailable` at once (a breaker spares the event loop from
    waiting on each), and followers catch up from the record when it is back.
    """

    def __init__(
        self,
        store: TaskStore,
        actors: Actors,
        channel_layer: Any,
        admission: Admission,
        settings: JobSettings,
    ) -> None:
        self.store = store
        self._actors = actors
        self._settings = settings
        self._layer = channel_layer
        self._admission = admission
        self._comebacks = Comebacks(store.client.ping)
        self._breaker = Breaker()
        registry = WorkerRegistry(
            store.client, prefix=store.prefix, stale_after=settings.worker_stale_after
        )
        self._overview = Overview(store, registry, settings)
        self._dispatcher = Dispatcher(store)
        self._eta = Estimator(
            store, registry, RunTimes(store.client, prefix=store.prefix), settings
        )

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
            records[i] = await self._create(record, tasks[i].inputs, keys[i])
        return [record for record in records if record is not None]

    @_translated
    async def _earlier(self, owner: str, keys: Sequence[str | None]) -> list[TaskRecord | None]:
        """The tasks known idempotency keys name (None where a key is new or absent)."""
        found: list[TaskRecord | None] = []
        for key in keys:
            earlier = None
            if key is not None:
                earlier = await asyncio.to_thread(self.store.find_idempotent, owner, key)
            found.append(earlier)
        return found

    @_translated
    async def _admit(self, owner: str, count: int) -> None:
        """Take `count` submit tokens, or raise `Refused`."""
        await asyncio.to_thread(
            self._admission.admit,
            owner,
            self.store.live_key(owner),
            [self.store.queue_key(queue) for queue in self._settings.queues],
            count,
        )

    @_translated
    async def _create(
        self, record: TaskRecord, inputs: Mapping[str, bytes], idempotency_key: str | None
    ) -> TaskRecord:
        return await record_and_send(
            self.store, self._actors, record, inputs, idempotency_key, self._publish
        )

    @_translated
    async def get(self, owner: str, task_id: str) -> TaskRecord | None:
        """The task, or None when unknown, expired or someone else's."""
        if not is_task_id(task_id):
            return None
        record = await asyncio.to_thread(self.store.get, task_id)
        return record if record is not None and record.owner == owner else None

    @_translated
    async def list(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        return await asyncio.to_thread(self.store.list_for_owner, owner, status=status, limit=limit)

    @_translated
    async def cancel(self, owner: str, task_id: str) -> TaskRecord | None:
        """Cancel the task (see store.cancel); None when unknown or someone else's."""
        before = await self.get(owner, task_id)
        if before is None or before.status.terminal:
            return before
        with task_context(task_id):
            record = await asyncio.to_thread(self.store.cancel, task_id)
            if record is not None and record.seq != before.seq:
                await self._publish(record)
        return record

    @_translated
    @_translated
    async def estimate(self, record: TaskRecord) -> Estimate:
        """When the task should start and finish (see actors.client.eta)."""
        return await asyncio.to_thread(self._eta.estimate, record)

    @_translated
    async def tell_position(self, record: TaskRecord) -> None:
        """A QUEUED task's subscribers hear of it when its queue position moved (at
        most once a second, however many web nodes watch it): an event whose
        position and estimates are new (`Dispatcher.touch_position`)."""
        moved = await asyncio.to_thread(self._dispatcher.touch_position, record)
        if moved is not None:
            await self._publish(moved)

    async def queue_position(self, record: TaskRecord) -> int | None:
        if record.status is not TaskStatus.QUEUED:
            return None
        position = await asyncio.to_thread(self.store.queue_position, record)
        # Read after the record: a task that left the queue in between is starting.
        return position or 1

    @_translated
    async def result_png(self, task_id: str, index: int = 0) -> bytes | None:
        return await asyncio.to_thread(self.store.result_png, task_id, index)

    @_translated
    async def preview_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.preview_png, task_id)

    # -- the operators' view: callers check who may see it -------------------
    @_translated
    async def queue_depths(self) -> Sequence[QueueDepth]:
        """Every queue a task can be sent to, with what waits on it."""
        return await asyncio.to_thread(self._overview.queues)

    @_translated
    async def running_tasks(self, limit: int) -> Sequence[RunningTask]:
        """Up to `limit` RUNNING tasks, anyone's; the soonest lease expiry first."""
        return await asyncio.to_thread(self._overview.running, limit)

    @_translated
    async def workers(self) -> Sequence[WorkerInfo]:
        """Worker processes heard from within `worker_stale_after` seconds."""
        return await asyncio.to_thread(self._overview.workers)

    async def watch(
        self, owner: str, task_id: str, listen: Listen
    ) -> AsyncGenerator[TaskRecord, None]:
        """Snapshot then changes until terminal; nothing for an unknown task.

        `listen` joins the task's channel-layer group and gives its events;
        it is entered before the snapshot is read, so nothing falls between. Raises
        `StoreUnavailable` when Redis is out while joining or reading the first
        snapshot; later, an outage only delays events (see `actors.client.following.follow`).
        Close the iterator (`contextlib.aclosing`) to leave the group at once.
        """
        async with AsyncExitStack() as stack:
            with outages_raise_unavailable():
                joined = listen(TaskChanged.TYPE, group_name(task_id))
                messages = await stack.enter_async_context(joined)
            self._comebacks.follower_joined()
            stack.callback(self._comebacks.follower_left)
            async for record in follow(
                lambda: self.get(owner, task_id),
                messages,
                transient=(StoreUnavailable,),
                nudged=self._comebacks.wait,
            ):
                yield record

    async def _publish(self, record: TaskRecord) -> None:
        try:
            await publish(self._layer, record)
        except Exception:
            # Subscribers resynchronise from the record; a lost event costs latency only.
            logger.exception("could not publish an event for task %s", record.id)
