"""Submitting through the job system on a real Redis: admission decided with the record
(all or none, a known idempotency key never refused), or before `vet` when one is
given; every task recorded gets one queue message, a refused one none."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from actors.client import submitting
from actors.client.admission import Admission, AdmissionPolicy, Refused
from actors.client.jobsystem import JobSystem
from actors.client.submitting import EnqueueFailed, NewTask
from actors.config import JobSettings
from actors.queues.broker import declare_actors, message_keys
from actors.queues.consumer import DoorbellRedisBroker
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from tests.actors.factories import new_task

GENERATION = NewTask(TaskKind.IMAGE_GENERATION, {"prompt": "a lighthouse"}, {})


class Announcements:
    """A channel layer that keeps what is sent to it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))


@pytest.fixture
def jobs_for(
    store: TaskStore, client: redis.Redis, prefix: str
) -> Iterator[Callable[..., JobSystem]]:
    """A job system on the test's store, admitting by the policy given."""
    settings = JobSettings(key_prefix=prefix, broker_namespace=prefix)
    broker = DoorbellRedisBroker(client=client, namespace=prefix)
    actors = declare_actors(broker, settings, lambda task_id, queue: None)

    def make(**policy: Any) -> JobSystem:
        admission = Admission(client, AdmissionPolicy(**policy), prefix=prefix)
        return JobSystem(store, actors, Announcements(), admission, settings)

    yield make


def messages(client: redis.Redis, prefix: str) -> int:
    return int(client.llen(message_keys(prefix, "image_generation").ready))


def submit(jobs: JobSystem, key: str | None = None, **options: Any) -> TaskRecord:
    return asyncio.run(
        jobs.submit("alice", GENERATION.kind, GENERATION.params, {}, idempotency_key=key, **options)
    )


def submit_many(jobs: JobSystem, count: int, key: str | None = None) -> list[TaskRecord]:
    return asyncio.run(jobs.submit_many("alice", [GENERATION] * count, idempotency_key=key))


def test_a_batch_is_admitted_with_its_first_record_all_or_none(
    jobs_for: Callable[..., JobSystem], store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    jobs = jobs_for(submit_rate=0.001, submit_burst=3)
    with pytest.raises(Refused) as over:
        submit_many(jobs, 4)
    assert over.value.reason == "OVER_BURST"
    assert store.list_for_owner("alice") == [] and messages(client, prefix) == 0
    batch = submit_many(jobs, 2)
    assert len({task.id for task in batch}) == 2
    # One token left: a batch of two is refused whole, a single task admitted.
    with pytest.raises(Refused) as rate:
        submit_many(jobs, 2)
    assert rate.value.reason == "SUBMIT_RATE"
    assert len(store.list_for_owner("alice")) == 2 and messages(client, prefix) == 2
    submit(jobs)
    with pytest.raises(Refused):
        submit(jobs)
    assert len(store.list_for_owner("alice")) == 3 and messages(client, prefix) == 3
    assert client.get(store.live_key("alice")) == b"3"


def test_a_known_idempotency_key_is_never_refused_and_sends_nothing_again(
    jobs_for: Callable[..., JobSystem], client: redis.Redis, prefix: str
) -> None:
    jobs = jobs_for(submit_rate=0.001, submit_burst=1)
    first = submit(jobs, key="k")
    assert submit(jobs, key="k").id == first.id  # the bucket is empty by now
    with pytest.raises(Refused):
        submit(jobs, key="another")
    assert messages(client, prefix) == 1


def test_unfinished_and_queue_limits_count_the_whole_batch(
    jobs_for: Callable[..., JobSystem], store: TaskStore
) -> None:
    with pytest.raises(Refused) as unfinished:
        submit_many(jobs_for(max_unfinished_per_owner=2), 3)
    assert unfinished.value.reason == "UNFINISHED_TASKS"
    with pytest.raises(Refused) as full:
        submit_many(jobs_for(max_queued=2), 3)
    assert full.value.reason == "QUEUE_FULL"
    assert store.list_for_owner("alice") == []


def test_a_batch_whose_first_try_died_part_way_admits_and_records_only_the_rest(
    jobs_for: Callable[..., JobSystem], store: TaskStore, client: redis.Redis, prefix: str
) -> None:
    jobs = jobs_for(submit_rate=0.001, submit_burst=2)
    # As if a first try of the batch "gallery" had recorded its first task, then died.
    recorded, _ = store.create(new_task(), {}, idempotency_key="batch:gallery:0")
    tasks = submit_many(jobs, 3, key="gallery")  # two tokens: enough for the two left
    assert tasks[0].id == recorded.id and len({task.id for task in tasks}) == 3
    assert [task.id for task in submit_many(jobs, 3, key="gallery")] == [t.id for t in tasks]
    with pytest.raises(Refused):
        submit(jobs)
    assert messages(client, prefix) == 2  # the first try's message is the sweeper's to send


def test_with_vet_admission_comes_first_and_a_refused_caller_is_not_vetted(
    jobs_for: Callable[..., JobSystem], store: TaskStore
) -> None:
    jobs = jobs_for(submit_rate=0.001, submit_burst=1)
    vetted: list[int] = []

    def vet(recorded_before: list[int]) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            recorded_before.append(len(store.list_for_owner("alice")))

        return check

    submit(jobs, vet=vet(vetted))
    with pytest.raises(Refused):
        submit(jobs, vet=vet(vetted))
    assert vetted == [0]  # run once, before its task was recorded
    assert len(store.list_for_owner("alice")) == 1


def test_each_task_recorded_is_announced_to_its_owner(
    jobs_for: Callable[..., JobSystem],
) -> None:
    jobs = jobs_for()
    tasks = submit_many(jobs, 2)
    layer = jobs._layer
    assert isinstance(layer, Announcements)
    assert [message["task"]["id"] for _, message in layer.sent] == [t.id for t in tasks]


def test_a_task_whose_message_cannot_be_sent_ends_failed_and_is_published(
    jobs_for: Callable[..., JobSystem], store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(actors: Any, record: TaskRecord) -> None:
        raise RuntimeError("no such queue")

    monkeypatch.setattr(submitting, "send_task", broken)
    jobs = jobs_for()
    with pytest.raises(EnqueueFailed) as failed:
        submit(jobs)
    (task,) = store.list_for_owner("alice")
    assert failed.value.args == (task.id,)
    assert task.status is TaskStatus.FAILED and task.error_code == "ENQUEUE_FAILED"
    layer = jobs._layer
    assert isinstance(layer, Announcements)
    # Announced as created, then published as it ended.
    assert [message["task"]["status"] for _, message in layer.sent] == [
        "QUEUED",
        "FAILED",
        "FAILED",
    ]


def test_a_task_whose_message_meets_an_outage_is_left_to_the_sweeper(
    jobs_for: Callable[..., JobSystem], store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(actors: Any, record: TaskRecord) -> None:
        raise redis.exceptions.ConnectionError("Redis went away")

    monkeypatch.setattr(submitting, "send_task", unreachable)
    task = submit(jobs_for())
    assert task.status is TaskStatus.QUEUED
    assert store.client.zscore(store.undispatched_key, task.id) is not None
