"""Following all of an owner's tasks (myTasks' job-system side): the unfinished tasks,
then each task's changes in order, another owner's never; resyncs that catch what was
lost; the owner's unfinished tasks read from a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from typing import Any

from actors.client.owner_following import follow_owner, unfinished_tasks
from actors.events import TaskChanged, owner_group_name
from actors.records import TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from tests.actors.factories import new_task

A, B, C = (new_task("alice") for _ in range(3))
THEIRS = new_task("bob")
RUNNING, SUCCEEDED = TaskStatus.RUNNING, TaskStatus.SUCCEEDED


def at(task: TaskRecord, seq: int, status: TaskStatus = RUNNING) -> TaskRecord:
    return task.evolve(seq=seq, status=status, stage=f"stage {seq}")


class Snapshots:
    """A snapshot reader answering each call with the next of `answers` (the last one
    from then on), recording which tasks each call asked about."""

    def __init__(self, *answers: list[TaskRecord] | Exception) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []
        self.called = asyncio.Event()

    async def __call__(self, also: Collection[str]) -> list[TaskRecord]:
        self.asked.append(sorted(also))
        self.called.set()
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def messages(*records: TaskRecord, then_wait: bool = False) -> AsyncIterator[dict[str, Any]]:
    for record in records:
        event = TaskChanged(record)
        yield event.encode(event.owner_group)
    if then_wait:
        await asyncio.Event().wait()


def seen(records: list[TaskRecord]) -> list[tuple[str, int]]:
    names = {A.id: "A", B.id: "B", C.id: "C", THEIRS.id: "theirs"}
    return [(names[r.id], r.seq) for r in records]


def test_unfinished_tasks_first_then_each_tasks_newer_changes_and_no_one_elses() -> None:
    snapshot = Snapshots([at(A, 2), at(B, 1, TaskStatus.QUEUED)])
    stream = messages(
        at(A, 1),  # older than the snapshot
        at(A, 3),
        at(B, 1, TaskStatus.QUEUED),  # the same as the snapshot
        at(C, 1, TaskStatus.QUEUED),  # submitted later
        at(B, 2),
        at(THEIRS, 5),  # however it got here
        at(A, 4, SUCCEEDED),
        at(A, 3),  # delayed behind its end
        at(C, 2),
        at(B, 2),
    )

    async def run() -> list[TaskRecord]:
        return [r async for r in follow_owner("alice", snapshot, stream)]

    followed = asyncio.run(asyncio.wait_for(run(), 5))

    assert seen(followed) == [
        ("A", 2),
        ("B", 1),
        ("A", 3),
        ("C", 1),
        ("B", 2),
        ("A", 4),
        ("C", 2),
    ]
    assert snapshot.asked == [[]]


def test_a_resync_asks_for_the_tasks_held_unfinished_and_catches_a_lost_end() -> None:
    # A's end and B's creation were lost in transit: only re-reading reveals them.
    snapshot = Snapshots([at(A, 1)], [at(A, 3, SUCCEEDED), at(B, 1, TaskStatus.QUEUED)])

    async def run() -> list[TaskRecord]:
        followed = []
        stream = follow_owner("alice", snapshot, messages(then_wait=True), resync_every=0.05)
        async for record in stream:
            followed.append(record)
            if len(followed) == 3:
                break
        return followed

    followed = asyncio.run(asyncio.wait_for(run(), 10))

    assert seen(followed) == [("A", 1), ("A", 3), ("B", 1)]
    assert snapshot.asked[:2] == [[], [A.id]]


def test_redis_back_rereads_at_once_and_an_outage_while_rereading_is_retried() -> None:
    outage = ConnectionError("Redis is out")
    snapshot = Snapshots([at(A, 1)], outage, [at(A, 2, SUCCEEDED)])
    back = asyncio.Event()

    async def nudged() -> None:
        await back.wait()
        back.clear()

    async def run() -> list[TaskRecord]:
        followed = []
        stream = follow_owner(
            "alice",
            snapshot,
            messages(then_wait=True),
            resync_every=3600,  # no timed resync in this test: only the nudge
            transient=(ConnectionError,),
            retry_after=0.01,
            nudged=nudged,
        )
        async for record in stream:
            followed.append(record)
            if len(followed) == 1:
                back.set()
            else:
                break
        return followed

    followed = asyncio.run(asyncio.wait_for(run(), 10))

    assert seen(followed) == [("A", 1), ("A", 2)]
    assert snapshot.asked == [[], [A.id], [A.id]]


def test_the_owners_unfinished_tasks_are_read_oldest_first_and_ended_ones_skipped(
    store: TaskStore,
) -> None:
    first, _ = store.create(new_task("alice", at=1.0), {})
    ended, _ = store.create(new_task("alice", at=2.0), {})
    running, _ = store.create(new_task("alice", at=3.0), {})
    store.create(new_task("bob", at=4.0), {})
    store.cancel(ended.id)
    started = store.start(running.id)
    assert started is not None

    found = unfinished_tasks(store, "alice")
    assert [(r.id, r.status) for r in found] == [
        (first.id, TaskStatus.QUEUED),
        (running.id, TaskStatus.RUNNING),
    ]
    # With the tasks a follower holds unfinished: the ended one too, as it is now.
    also = unfinished_tasks(store, "alice", also=[ended.id, THEIRS.id])
    assert [r.id for r in also] == [first.id, running.id, ended.id]
    assert also[-1].status is TaskStatus.CANCELLED
    assert unfinished_tasks(store, "carol") == []


def test_an_owners_group_name_is_a_valid_channel_layer_group_for_any_owner() -> None:
    names = [owner_group_name(o) for o in ("alice", "anonymous", "ünïcödé key", "x" * 500)]
    assert len(set(names)) == len(names)
    for name in names:
        assert len(name) < 100 and name.replace(".", "").isalnum() and name.isascii()
