"""The sweeper against a real Redis: tasks of dead workers come back, unsent messages get
sent, and any number of sweepers may run at once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import redis

from actors.records import TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.sweeper import Maintenance, Swept
from tests.actors.conftest import TTL
from tests.actors.factories import created, lapse, new_task, running, zset_ids


class Sweep:
    """A Maintenance whose messages and events land in lists."""

    def __init__(self, store: TaskStore, *, max_attempts: int = 2) -> None:
        self.sent: list[TaskRecord] = []
        self.published: list[TaskRecord] = []
        self.maintenance = Maintenance(
            store, self._send, self.published.append, max_attempts=max_attempts
        )
        self._lock = threading.Lock()

    def _send(self, record: TaskRecord) -> None:
        with self._lock:
            self.sent.append(record)

    def __call__(self) -> Swept:
        return self.maintenance.sweep()


def test_sweep_requeues_a_task_whose_lease_lapsed_and_sends_it_once(store: TaskStore) -> None:
    record = running(store, image=b"source")
    lapse(store, record.id)
    sweep = Sweep(store)

    swept = sweep()

    requeued = store.get(record.id)
    assert requeued is not None
    assert requeued.status is TaskStatus.QUEUED
    assert (requeued.attempts, requeued.lost) == (1, 1)
    assert requeued.seq == record.seq + 1
    assert swept == Swept(requeued=1, ended=0, sent=1)
    assert sweep.sent == [requeued]
    assert sweep.published == [requeued]
    assert zset_ids(store, store.undispatched_key) == set()
    assert zset_ids(store, store.leases_key) == set()

    assert sweep() == Swept()
    assert sweep.sent == [requeued]


def test_sweep_ends_a_task_lost_too_often_and_sends_nothing(store: TaskStore) -> None:
    record = running(store)
    lapse(store, record.id)
    sweep = Sweep(store, max_attempts=1)

    swept = sweep()

    ended = store.get(record.id)
    assert ended is not None and ended.status is TaskStatus.FAILED
    assert ended.error_code == "WORKER_LOST"
    assert swept == Swept(requeued=0, ended=1, sent=0)
    assert sweep.sent == []
    assert sweep.published == [ended]


def test_sweep_ignores_a_live_lease(store: TaskStore) -> None:
    record = running(store)
    sweep = Sweep(store)

    assert sweep() == Swept()

    assert store.get(record.id) == record
    assert sweep.sent == [] and sweep.published == []


def test_sweep_sends_a_task_whose_sender_died_once_its_grace_is_over(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    # A web node recorded the task and died before sending its message.
    quick = TaskStore(client, prefix=prefix, ttl=TTL, dispatch_grace=0.5)
    record = created(quick)
    sweep = Sweep(quick)

    assert sweep() == Swept()
    assert sweep.sent == []

    time.sleep(0.55)
    swept = sweep()

    assert swept == Swept(sent=1)
    assert sweep.sent == [record]
    assert sweep.published == []
    assert quick.get(record.id) == record
    assert zset_ids(quick, quick.undispatched_key) == set()
    assert sweep() == Swept()
    assert sweep.sent == [record]


def test_sweep_forgets_a_due_task_that_is_no_longer_queued(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    quick = TaskStore(client, prefix=prefix, ttl=TTL, dispatch_grace=0.05)
    gone = created(quick, new_task(at=0))
    client.delete(quick.key(gone.id))
    cancelled = created(quick, new_task(at=1))
    quick.cancel(cancelled.id)
    client.zadd(quick.undispatched_key, {cancelled.id: 0})  # a mark left behind
    time.sleep(0.1)
    sweep = Sweep(quick)

    assert sweep() == Swept()

    assert sweep.sent == []
    assert zset_ids(quick, quick.undispatched_key) == set()


def test_sweep_does_not_send_a_task_that_was_dispatched(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    quick = TaskStore(client, prefix=prefix, ttl=TTL, dispatch_grace=0.05)
    record = created(quick)
    quick.dispatched(record.id)
    time.sleep(0.1)
    sweep = Sweep(quick)

    assert sweep() == Swept()
    assert sweep.sent == []


def test_two_sweepers_at_once_requeue_each_lapsed_task_exactly_once(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    tasks = [running(store, new_task(at=at)) for at in range(50)]
    for task in tasks:
        lapse(store, task.id)
    # Two worker processes, each with its own store, sweeping the same Redis.
    sweeps = [Sweep(TaskStore(client, prefix=prefix, ttl=TTL)) for _ in range(2)]
    results: list[Swept] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(sweeps))

    def sweep_once(sweep: Sweep) -> None:
        try:
            barrier.wait(timeout=5)
            results.append(sweep())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sweep_once, args=(sweep,)) for sweep in sweeps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sum(result.requeued for result in results) == len(tasks)
    assert sum(result.ended for result in results) == 0
    for task in tasks:
        after = store.get(task.id)
        assert after is not None
        assert after.status is TaskStatus.QUEUED
        assert after.lost == 1, f"task {task.id} reaped {after.lost} times"
        assert after.seq == task.seq + 1
    # Their grace is long, so the only messages are the reapers' ones: one per task.
    sent = Counter(record.id for sweep in sweeps for record in sweep.sent)
    assert sent == Counter(task.id for task in tasks)
    published = Counter(record.id for sweep in sweeps for record in sweep.published)
    assert published == Counter(task.id for task in tasks)
    assert client.zcard(store.queue_key(tasks[0].queue)) == len(tasks)
    assert zset_ids(store, store.leases_key) == set()
    assert zset_ids(store, store.undispatched_key) == set()
