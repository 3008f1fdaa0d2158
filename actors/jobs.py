"""The job system as `graph/` sees it: submit, cancel, get, list, watch. Async throughout."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

from actors.admission import Admission
from actors.broker import Actors
from actors.config import QUEUES
from actors.events import follow, publish
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store import TaskStore

logger = logging.getLogger(__name__)


def is_task_id(text: str) -> bool:
    """Task ids are UUIDs; anything else (e.g. "<id>:result") names no task."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class EnqueueFailed(Exception):
    """The task was recorded but could not be queued; it is marked FAILED."""


class JobSystem:
    def __init__(
        self, store: TaskStore, actors: Actors, channel_layer: Any, admission: Admission
    ) -> None:
        self.store = store
        self._actors = actors
        self._layer = channel_layer
        self._admission = admission

    async def submit(
        self,
        owner: str,
        kind: TaskKind,
        params: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        *,
        idempotency_key: str | None = None,
    ) -> TaskRecord:
        """Record a QUEUED task and enqueue it. With a known idempotency key, the first task.

        Raises `Refused` when the owner submits too fast or has too many unfinished
        tasks, or the queues are full; a repeat of a known idempotency key is never
        refused.
        """
        if idempotency_key is not None:
            earlier = await asyncio.to_thread(self.store.find_idempotent, owner, idempotency_key)
            if earlier is not None:
                return earlier
        await asyncio.to_thread(
            self._admission.admit,
            owner,
            self.store.live_key(owner),
            [self.store.queue_key(queue) for queue in QUEUES.values()],
        )
        record = TaskRecord(
            id=str(uuid.uuid4()),
            kind=kind,
            owner=owner,
            queue=QUEUES[kind],
            params=dict(params),
        )
        record, created = await asyncio.to_thread(
            self.store.create, record, inputs, idempotency_key=idempotency_key
        )
        if not created:
            return record
        try:
            await asyncio.to_thread(self._actors[kind].send, record.id)
        except Exception as error:
            logger.exception("could not enqueue task %s", record.id)
            failed = await asyncio.to_thread(
                self.store.fail, record, "ENQUEUE_FAILED", "the task could not be queued"
            )
            if failed is not None:
                await self._publish(failed)
            raise EnqueueFailed(record.id) from error
        return record

    async def get(self, owner: str, task_id: str) -> TaskRecord | None:
        """The task, or None when unknown, expired or someone else's."""
        if not is_task_id(task_id):
            return None
        record = await asyncio.to_thread(self.store.get, task_id)
        return record if record is not None and record.owner == owner else None

    async def list(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        return await asyncio.to_thread(self.store.list_for_owner, owner, status=status, limit=limit)

    async def cancel(self, owner: str, task_id: str) -> TaskRecord | None:
        """Cancel the task (see store.cancel); None when unknown or someone else's."""
        before = await self.get(owner, task_id)
        if before is None or before.status.terminal:
            return before
        record = await asyncio.to_thread(self.store.cancel, task_id)
        if record is not None and record.seq != before.seq:
            await self._publish(record)
        return record

    async def queue_position(self, record: TaskRecord) -> int | None:
        if record.status is not TaskStatus.QUEUED:
            return None
        position = await asyncio.to_thread(self.store.queue_position, record)
        # Read after the record: a task that left the queue in between is starting.
        return position or 1

    async def result_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.result_png, task_id)

    async def preview_png(self, task_id: str) -> bytes | None:
        return await asyncio.to_thread(self.store.preview_png, task_id)

    def watch(
        self, owner: str, task_id: str, messages: AsyncIterable[dict[str, Any]]
    ) -> AsyncIterator[TaskRecord]:
        """Snapshot then changes until terminal; the caller has joined the task's group
        (`actors.events.group_name`) before iterating, so nothing falls between."""
        return follow(lambda: self.get(owner, task_id), messages)

    async def _publish(self, record: TaskRecord) -> None:
        try:
            await publish(self._layer, record)
        except Exception:
            # Subscribers resynchronise from the record; a lost event costs latency only.
            logger.exception("could not publish an event for task %s", record.id)
