"""Pages of an owner's tasks (`owner_page`, behind `tasksConnection`): newest first,
ties in creation time broken by id, nothing skipped or repeated while tasks are
submitted or expire between pages."""

from __future__ import annotations

import redis

from actors.records import TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from tests.actors.factories import created, new_task


def all_pages(store: TaskStore, limit: int, status: TaskStatus | None = None) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    while True:
        page, more = store.owner_page("alice", status=status, limit=limit, after=after)
        pages.append([record.id for _, record in page])
        if not more:
            return pages
        after = page[-1][0]


def newest_first(tasks: list[TaskRecord]) -> list[str]:
    return [t.id for t in sorted(tasks, key=lambda t: (t.created_at, t.id), reverse=True)]


def test_pages_cover_every_task_once_newest_first_with_ties_by_id(store: TaskStore) -> None:
    # Three tasks share each creation time: the position's id part orders them.
    tasks = [created(store, new_task(at=float(at))) for at in (0, 0, 0, 1, 1, 1, 2)]
    created(store, new_task("bob", at=1.0))

    pages = all_pages(store, 2)

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [task_id for page in pages for task_id in page] == newest_first(tasks)
    listed = store.list_for_owner("alice", limit=50)  # `tasks`, the same order
    assert [record.id for record in listed] == newest_first(tasks)


def test_a_task_submitted_or_expired_between_pages_shifts_nothing(
    store: TaskStore, client: redis.Redis
) -> None:
    tasks = [created(store, new_task(at=float(at))) for at in range(6)]
    first, more = store.owner_page("alice", limit=2)
    assert more and [r.id for _, r in first] == newest_first(tasks)[:2]

    created(store, new_task(at=10.0))  # newer than the cursor: in no later page
    expired = newest_first(tasks)[3]
    client.delete(store.key(expired))  # its record gone, its id still in the index

    rest, more = store.owner_page("alice", limit=10, after=first[-1][0])
    assert not more
    assert [r.id for _, r in rest] == [i for i in newest_first(tasks)[2:] if i != expired]
    assert client.zscore(store.owner_key("alice"), expired) is None  # pruned


def test_a_status_filter_pages_over_that_status_alone(store: TaskStore) -> None:
    tasks = [created(store, new_task(at=float(at))) for at in range(5)]
    for task in tasks[1::2]:
        store.cancel(task.id)

    pages = all_pages(store, 1, status=TaskStatus.CANCELLED)

    assert [task_id for page in pages for task_id in page] == newest_first(tasks[1::2])
    assert pages[-1] != []
