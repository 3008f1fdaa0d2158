"""The order a queue's tasks start in (actors.store.dispatch on a real Redis): priority
first, then fair share between owners (rounds), then submission; queue_position is
that order's rank, and the worker that is free takes the first of it."""

from __future__ import annotations

import threading
from collections import Counter

from actors.records import TaskPriority, TaskRecord, TaskStatus
from actors.store.dispatch import Dispatcher
from actors.store.tasks import TaskStore
from tests.actors.factories import created, new_task

QUEUE = new_task().queue


def submit(store: TaskStore, owner: str, count: int = 1, **changes: object) -> list[TaskRecord]:
    return [created(store, new_task(owner).evolve(**changes)) for _ in range(count)]


def start_order(store: TaskStore) -> list[str]:
    """Ids in the order free workers start them, until the queue is empty."""
    order = []
    while (claimed := Dispatcher(store).start_next(QUEUE)).record is not None:
        order.append(claimed.record.id)
    return order


def ids(records: list[TaskRecord]) -> list[str]:
    return [record.id for record in records]


def test_high_before_normal_before_low_whatever_the_submission_order(store: TaskStore) -> None:
    low = submit(store, "alice", 2, priority=TaskPriority.LOW)
    normal = submit(store, "alice", 2)
    high = submit(store, "alice", 2, priority=TaskPriority.HIGH)

    assert [store.queue_position(task) for task in high + normal + low] == [1, 2, 3, 4, 5, 6]
    assert start_order(store) == ids(high + normal + low)


def test_callers_take_turns_a_backlog_does_not_make_others_wait(store: TaskStore) -> None:
    alice = submit(store, "alice", 50)
    bob = submit(store, "bob", 2)

    assert [store.queue_position(task) for task in bob] == [2, 4]
    order = start_order(store)
    assert order[:5] == [alice[0].id, bob[0].id, alice[1].id, bob[1].id, alice[2].id]
    assert order[5:] == ids(alice[3:])


def test_a_caller_arriving_late_waits_for_the_round_in_progress_only(store: TaskStore) -> None:
    alice = submit(store, "alice", 10)
    for _ in range(3):
        Dispatcher(store).start_next(QUEUE)
    carol = submit(store, "carol", 2)

    # Alice's third task began round 2: carol's first goes before alice's fourth.
    assert [store.queue_position(task) for task in carol] == [1, 3]
    assert start_order(store)[:3] == [carol[0].id, alice[3].id, carol[1].id]


def test_priority_bands_share_fairly_each_on_its_own(store: TaskStore) -> None:
    alice = submit(store, "alice", 3, priority=TaskPriority.HIGH)
    bob_normal = submit(store, "bob", 1)
    bob_high = submit(store, "bob", 1, priority=TaskPriority.HIGH)

    high = [alice[0].id, bob_high[0].id, alice[1].id, alice[2].id]
    assert start_order(store) == [*high, *ids(bob_normal)]


def test_a_free_worker_gets_nothing_from_an_empty_queue(store: TaskStore) -> None:
    assert Dispatcher(store).start_next(QUEUE) == (None, [])
    task = submit(store, "alice")[0]
    assert store.cancel(task.id) is not None

    assert Dispatcher(store).start_next(QUEUE) == (None, [])


def test_a_task_past_its_deadline_is_ended_and_the_next_one_started(store: TaskStore) -> None:
    late, on_time = submit(store, "alice", 2, deadline_seconds=60)
    store.client.hset(store.key(late.id), "deadline_ms", 1)  # long past, on any clock

    started, ended = Dispatcher(store).start_next(QUEUE)

    assert started is not None and started.id == on_time.id
    assert [(task.id, task.status, task.error_code) for task in ended] == [
        (late.id, TaskStatus.CANCELLED, "DEADLINE_EXCEEDED")
    ]


def test_a_claim_retried_after_a_lost_reply_gets_the_task_it_started(store: TaskStore) -> None:
    first, second = submit(store, "alice", 2)

    started = Dispatcher(store).start_next(QUEUE, run="claim-1").record
    again = Dispatcher(store).start_next(QUEUE, run="claim-1").record

    assert started is not None and again is not None
    assert started.id == again.id == first.id
    assert again.attempts == 1
    assert store.queue_position(second) == 1


def test_workers_racing_for_the_queue_start_each_task_exactly_once(store: TaskStore) -> None:
    tasks = submit(store, "alice", 40) + submit(store, "bob", 40)
    started: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(4)

    def worker() -> None:
        gate.wait()
        while (claimed := Dispatcher(store).start_next(QUEUE)).record is not None:
            with lock:
                started.append(claimed.record.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(started) == Counter(ids(tasks))
    assert all(store.get(task_id).status is TaskStatus.RUNNING for task_id in started)  # type: ignore[union-attr]


def test_the_queue_order_goes_with_the_last_waiting_task(store: TaskStore) -> None:
    submit(store, "alice", 2)
    start_order(store)

    assert not store.client.exists(store.queue_order_key(QUEUE))
    # A fresh start: a new caller's first task is first again.
    bob = submit(store, "bob")[0]
    assert store.queue_position(bob) == 1


def test_a_cancelled_waiting_task_gives_its_owners_round_back(store: TaskStore) -> None:
    alice = submit(store, "alice", 2)
    store.cancel(alice[1].id)
    again = submit(store, "alice")
    bob = submit(store, "bob", 3)

    # Alice's cancelled second task took round 1: her next one takes it back, so it
    # goes before bob's second (round 1, a later ticket), not after it (round 2).
    assert start_order(store) == [alice[0].id, bob[0].id, again[0].id, bob[1].id, bob[2].id]


def test_only_the_owners_last_round_is_given_back(store: TaskStore) -> None:
    alice = submit(store, "alice", 3)
    store.cancel(alice[1].id)  # round 1, but round 2 is taken by her third task
    again = submit(store, "alice")
    bob = submit(store, "bob", 3)

    assert start_order(store) == [
        alice[0].id,
        bob[0].id,
        bob[1].id,
        alice[2].id,
        bob[2].id,
        again[0].id,
    ]
