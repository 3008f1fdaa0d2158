"""The operators' view against a real Redis and a real Dramatiq Redis broker: queue depths
count the messages and tasks that wait, running tasks come from the leases index."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from actors.client.overview import Overview, QueueDepth
from actors.config import JobSettings
from actors.queues.broker import declare_actors, send_task
from actors.records import TaskKind, TaskPriority, TaskStatus
from actors.store.queueorder import OwnerTurn
from actors.store.registry import WorkerRegistry
from actors.store.tasks import TaskStore
from tests.actors.factories import created, lapse, new_task, running


@pytest.fixture
def settings(redis_url: str, prefix: str) -> JobSettings:
    return JobSettings(redis_url=redis_url, key_prefix=prefix, broker_namespace=f"{prefix}dq")


@pytest.fixture
def broker(client: redis.Redis, settings: JobSettings) -> Iterator[RedisBroker]:
    broker = RedisBroker(client=client, namespace=settings.broker_namespace)
    yield broker
    keys = list(client.scan_iter(match=f"{settings.broker_namespace}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def overview(store: TaskStore, settings: JobSettings) -> Overview:
    registry = WorkerRegistry(store.client, prefix=store.prefix, stale_after=5)
    return Overview(store, registry, settings)


def test_queue_depths_count_ready_messages_and_queued_tasks_per_queue(
    store: TaskStore, broker: RedisBroker, settings: JobSettings, overview: Overview
) -> None:
    actors = declare_actors(broker, settings, lambda task_id, queue: None)
    for _ in range(3):
        send_task(actors, created(store))
    removal = created(store, new_task(kind=TaskKind.BACKGROUND_REMOVAL))
    send_task(actors, removal)
    created(store, new_task(kind=TaskKind.FACE_SWAP))  # recorded, its message not yet sent

    depths = {depth.name: depth for depth in overview.queues()}

    def depth(name: str, ready: int, queued: int) -> QueueDepth:
        # Every task here is alice's, NORMAL: her next one is `queued` rounds away.
        by_priority = {TaskPriority.HIGH: 0, TaskPriority.NORMAL: queued, TaskPriority.LOW: 0}
        owners = [OwnerTurn("alice", TaskPriority.NORMAL, queued)] if queued else []
        return QueueDepth(name, ready, 0, queued, by_priority=by_priority, owners=owners)

    assert sorted(depths) == settings.queues
    assert depths["image_generation"] == depth("image_generation", 3, 3)
    assert depths["background_removal"] == depth("background_removal", 1, 1)
    assert depths["face_swap"] == depth("face_swap", 0, 1)
    others = set(depths) - {"image_generation", "background_removal", "face_swap"}
    assert others and all(depths[name] == depth(name, 0, 0) for name in others)


def test_delayed_messages_are_counted_apart_from_ready_ones(
    store: TaskStore, broker: RedisBroker, settings: JobSettings, overview: Overview
) -> None:
    actors = declare_actors(broker, settings, lambda task_id, queue: None)
    actor = actors[TaskKind.FACE_SWAP]
    broker.enqueue(actor.message("later"), delay=60_000)

    [face_swap] = [depth for depth in overview.queues() if depth.name == "face_swap"]

    assert (face_swap.ready, face_swap.delayed) == (0, 1)


def test_running_tasks_come_with_their_lease_and_only_while_running(
    store: TaskStore, overview: Overview
) -> None:
    first = running(store)
    second = running(store, new_task("bob", kind=TaskKind.FACE_SWAP))
    created(store)  # QUEUED: not running
    lapse(store, second.id)  # its worker died: first in line

    listed = overview.running(limit=10)

    assert [task.record.id for task in listed] == [second.id, first.id]
    assert all(task.record.status is TaskStatus.RUNNING for task in listed)
    assert listed[0].record == replace(second, seq=listed[0].record.seq)
    assert listed[0].lease_expires_at < listed[1].lease_expires_at
    assert [task.record.id for task in overview.running(limit=1)] == [second.id]

    store.cancel(first.id)  # RUNNING with a cancel asked: still running
    assert overview.running(limit=10)[1].record.cancel_requested
