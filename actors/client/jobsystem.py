"""The job system as `graph/` sees it: submit, cancel, get, list, watch, and the
operators' view (queues, running tasks, workers). Async throughout."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from actors.client.admission import Admission
from actors.client.eta import Estimate, Estimator
from actors.client.following import follow
from actors.client.overview import Overview, QueueDepth, RunningTask
from actors.client.submitting import Submissions
from actors.client.translated import translated
from actors.config import JobSettings
from actors.events import TaskChanged, group_name, publish
from actors.logcontext import task_context
from actors.queues.broker import Actors
from actors.records import TaskRecord, TaskStatus, is_task_id
from actors.store.dispatch import Dispatcher
from actors.store.outage import (
    Breaker,
    Comebacks,
    StoreUnavailable,
    outages_raise_unavailable,
)
from actors.store.reads import OwnerPosition
from actors.store.recent import MinuteCounts
from actors.store.registry import WorkerInfo, WorkerRegistry
from actors.store.runtimes import RunTimes
from actors.store.tasks import TaskStore

logger = logging.getLogger(__name__)


# listen(message type, group): joins the channel-layer group and gives its messages of
# that type until left (the transport's side of `JobSystem.watch`).
Listen = Callable[[str, str], AbstractAsyncContextManager[AsyncIterable[dict[str, Any]]]]


class JobSystem(Submissions):
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

    @translated
    async def get(self, owner: str, task_id: str) -> TaskRecord | None:
        """The task, or None when unknown, expired or someone else's."""
        if not is_task_id(task_id):
            return None
        record = await asyncio.to_thread(self.store.get, task_id)
        return record if record is not None and record.owner == owner else None

    @translated
    async def list(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        return await asyncio.to_thread(self.store.list_for_owner, owner, status=status, limit=limit)

    @translated
    async def page(
        self,
        owner: str,
        *,
        status: TaskStatus | None = None,
        limit: int = 20,
        after: OwnerPosition | None = None,
    ) -> tuple[builtins.list[tuple[OwnerPosition, TaskRecord]], bool]:
        """A page of the owner's tasks, newest first (see TaskReader.owner_page)."""
        return await asyncio.to_thread(
            self.store.owner_page, owner, status=status, limit=limit, after=after
        )

    @translated
    async def cancel(self, owner: str, task_id: str) -> TaskRecord | None:
        """Cancel the task (see store.cancel); None when unknown or someone else's."""
        before = await self.get(owner, task_id)
        if before is None or before.status.terminal:
            return before
        with task_context(task_id):
            record = await asyncio.to_thread(self.store.cancel, task_id, known=before)
            if record is not None and record.seq != before.seq:
                await self._publish(record)
        return record

    @translated
    async def estimate(self, record: TaskRecord) -> Estimate:
        """When the task should start and finish (see actors.client.eta)."""
        return await asyncio.to_thread(self._eta.estimate, record)

    @translated
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

    @translated
    async def result_png(self, task_id: str, index: int = 0) -> bytes | None:
        return await asyncio.to_thread(self.store.result_png, task_id, index)

    @translated
    async def preview_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.preview_png, task_id)

    # -- the operators' view: callers check who may see it -------------------
    @translated
    async def queue_depths(self) -> Sequence[QueueDepth]:
        """Every queue a task can be sent to, with what waits on it."""
        return await asyncio.to_thread(self._overview.queues)

    @translated
    async def running_tasks(self, limit: int) -> Sequence[RunningTask]:
        """Up to `limit` RUNNING tasks, anyone's; the soonest lease expiry first."""
        return await asyncio.to_thread(self._overview.running, limit)

    @translated
    async def workers(self) -> Sequence[WorkerInfo]:
        """Worker processes heard from within `worker_stale_after` seconds."""
        return await asyncio.to_thread(self._overview.workers)

    @translated
    async def recent_counts(self, minutes: int) -> Sequence[MinuteCounts]:
        """Tasks ended in each of the last `minutes` minutes (1..60), oldest first."""
        return await asyncio.to_thread(self._overview.recent, minutes)

    @translated
    async def owner_of(self, task_id: str) -> str | None:
        """Who submitted the task; None when unknown or expired."""
        if not is_task_id(task_id):
            return None
        record = await asyncio.to_thread(self.store.get, task_id)
        return None if record is None else record.owner

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
            messages = await self._joined(stack, listen, group_name(task_id))
            async for record in follow(
                lambda: self.get(owner, task_id),
                messages,
                transient=(StoreUnavailable,),
                nudged=self._comebacks.wait,
            ):
                yield record

    async def _joined(
        self, stack: AsyncExitStack, listen: Listen, group: str
    ) -> AsyncIterable[dict[str, Any]]:
        """The task events of channel-layer `group`, joined until `stack` closes, this
        follower counted meanwhile (Redis coming back nudges every follower)."""
        with outages_raise_unavailable():
            messages = await stack.enter_async_context(listen(TaskChanged.TYPE, group))
        self._comebacks.follower_joined()
        stack.callback(self._comebacks.follower_left)
        return messages

    async def _publish(self, record: TaskRecord) -> None:
        try:
            await publish(self._layer, record)
        except Exception:
            # Subscribers resynchronise from the record; a lost event costs latency only.
            logger.exception("could not publish an event for task %s", record.id)
