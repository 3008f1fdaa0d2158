"""The operators' view of the job system: queue depths, running tasks, live workers.

Every read is bounded: O(log n) per queue and priority, O(owners waiting) for fair
share's standing, one range of the leases index (at most
`limit` tasks), O(number of workers) for the registry, and one hash per minute for
recent ends. Nothing scans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from actors.config import JobSettings
from actors.queues.broker import message_keys
from actors.records import TaskPriority, TaskRecord, TaskStatus, from_hash
from actors.store.queueorder import BANDS, OwnerTurn, count_by_priority, owner_turns
from actors.store.recent import MinuteCounts, read_recent
from actors.store.registry import WorkerInfo, WorkerRegistry
from actors.store.tasks import TaskStore


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    # Messages in Dramatiq's list, ready for a worker to fetch.
    ready: int
    # Messages held back until a time (Dramatiq's delay queue).
    delayed: int
    # QUEUED tasks on this queue (the store's queue index), including any whose
    # message a worker has fetched but not started yet.
    queued_tasks: int
    # Of those, how many at each priority; and the owners' standing in fair share.
    by_priority: dict[TaskPriority, int] = field(default_factory=dict)
    owners: list[OwnerTurn] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunningTask:
    record: TaskRecord
    # When its worker must renew the lease; past it, the worker is presumed dead.
    lease_expires_at: datetime


class Overview:
    def __init__(self, store: TaskStore, registry: WorkerRegistry, settings: JobSettings) -> None:
        self._store = store
        self._registry = registry
        self._settings = settings

    def queues(self) -> list[QueueDepth]:
        """Every queue a task can be sent to, by name."""
        names = self._settings.queues
        namespace = self._settings.broker_namespace
        per_queue = 4 + len(BANDS)
        with self._store.client.pipeline(transaction=False) as pipe:
            for name in names:
                keys = message_keys(namespace, name)
                pipe.llen(keys.ready)
                pipe.llen(keys.delayed)
                pipe.zcard(self._store.queue_key(name))
                count_by_priority(pipe, self._store.queue_key(name))
                pipe.hgetall(self._store.queue_order_key(name))
            replies = cast(list[Any], pipe.execute())
        depths = []
        for i, name in enumerate(names):
            ready, delayed, queued, *bands, order = replies[per_queue * i : per_queue * (i + 1)]
            depths.append(
                QueueDepth(
                    name,
                    ready,
                    delayed,
                    queued,
                    by_priority=dict(zip(BANDS, bands, strict=True)),
                    owners=owner_turns(order),
                )
            )
        return depths

    def running(self, limit: int) -> list[RunningTask]:
        """Up to `limit` RUNNING tasks, the soonest lease expiry first (so a task whose
        worker was lost, not yet swept, leads)."""
        client = self._store.client
        leased = cast(
            list[tuple[bytes, float]],
            client.zrange(self._store.leases_key, 0, limit - 1, withscores=True),
        )
        if not leased:
            return []
        with client.pipeline(transaction=False) as pipe:
            for task_id, _ in leased:
                pipe.hgetall(self._store.key(task_id.decode()))
            raws = cast(list[dict[bytes, bytes]], pipe.execute())
        running = []
        for (_, expiry), raw in zip(leased, raws, strict=True):
            if not raw:
                continue
            record = from_hash({k.decode(): v.decode() for k, v in raw.items()})
            if record.status is TaskStatus.RUNNING:  # else it ended between the reads
                running.append(RunningTask(record, datetime.fromtimestamp(expiry / 1000, UTC)))
        return running

    def workers(self) -> list[WorkerInfo]:
        """Workers heard from within the staleness window, longest-silent first."""
        return self._registry.live()

    def recent(self, minutes: int) -> list[MinuteCounts]:
        """Tasks ended in each of the last `minutes` minutes, oldest first."""
        return read_recent(self._store.client, self._store, minutes)
