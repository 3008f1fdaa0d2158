"""Writing to a task the caller has just read (`known`): its keys never change once it
is created, so a worker starts the task it picked (and the web cancels the task it
read) without reading it a second time; a task gone meanwhile is left as it is."""

from __future__ import annotations

import pytest

from actors.records import TaskRecord, TaskStatus
from actors.store.dispatch import Dispatcher
from actors.store.tasks import TaskStore
from tests.actors.factories import created, keys_of, new_task, zset_ids


def no_second_read(task_id: str) -> TaskRecord | None:
    raise AssertionError(f"task {task_id} was read again")


def test_the_task_a_worker_picks_is_started_without_reading_it_again(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = created(store, new_task(), image=b"png")
    monkeypatch.setattr(store, "get", no_second_read)
    started = Dispatcher(store).start_next(task.queue, worker="w").record
    assert started is not None and started.id == task.id
    assert started.status is TaskStatus.RUNNING and started.attempts == 1
    assert zset_ids(store, store.leases_key) == {task.id}


def test_the_task_the_web_read_is_cancelled_without_reading_it_again(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = created(store, new_task(), image=b"png")
    read = store.get(task.id)  # as JobSystem.cancel reads it first
    monkeypatch.setattr(store, "get", no_second_read)
    cancelled = store.cancel(task.id, known=read)
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED
    # The keys it was cancelled with were its own: its input is gone with it.
    assert store.input_bytes(task.id, "image") is None


def test_a_task_gone_since_it_was_read_is_neither_started_nor_cancelled(
    store: TaskStore,
) -> None:
    task = created(store, new_task())
    read = store.get(task.id)
    store.client.delete(store.key(task.id))  # expired, or deleted, since
    before = keys_of(store.client, store.prefix)
    assert store.start(task.id, worker="w", known=read) is None
    assert store.cancel(task.id, known=read) is None
    assert keys_of(store.client, store.prefix) == before
    assert store.key(task.id).encode() not in before
