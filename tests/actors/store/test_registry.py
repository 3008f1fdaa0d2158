"""The worker registry against a real Redis: what a worker announces is what readers see,
a silent worker drops out by itself, a stopping one at once; and the presence
middleware keeps a real Dramatiq worker's entry true to what it runs."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import redis
import redis.asyncio
from dramatiq.brokers.stub import StubBroker

from actors.kinds import spec_for
from actors.records import TaskKind
from actors.store.registry import CurrentTask, LoadedModel, WorkerInfo, WorkerRegistry, count_live
from actors.worker.presence import WorkerPresence

WINDOW = 0.5  # seconds of silence after which a worker counts as gone, in these tests


@pytest.fixture
def registry(client: redis.Redis, prefix: str) -> WorkerRegistry:
    return WorkerRegistry(client, prefix=prefix, stale_after=WINDOW)


def worker(name: str = "gpu-1:101", **changes: object) -> WorkerInfo:
    host, pid = name.split(":")
    fields: dict[str, object] = {
        "id": name,
        "host": host,
        "pid": int(pid),
        "queues": ("background_removal", "image_generation"),
        "models": (LoadedModel(TaskKind.IMAGE_GENERATION, "tiny-random"),),
        **changes,
    }
    return WorkerInfo(**fields)  # type: ignore[arg-type]


def redis_now(client: redis.Redis) -> datetime:
    seconds, micros = client.time()
    return datetime.fromtimestamp(seconds + micros / 1e6, UTC)


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until `predicate` held; fails past `timeout`."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def test_an_announced_worker_is_read_back_as_it_described_itself_on_redis_time(
    registry: WorkerRegistry, client: redis.Redis
) -> None:
    before = redis_now(client)
    running = CurrentTask(str(uuid.uuid4()), TaskKind.IMAGE_GENERATION)
    announced = registry.announce(worker(tasks=(running,)))

    [seen] = registry.live()

    assert seen == worker(tasks=(running,))
    assert seen.started_at == announced.started_at
    assert seen.started_at is not None and seen.last_seen_at is not None
    assert before - timedelta(milliseconds=1) <= seen.started_at <= seen.last_seen_at
    assert seen.last_seen_at <= redis_now(client)
    assert registry.count() == 1


def test_a_later_announcement_keeps_the_start_and_replaces_everything_else(
    registry: WorkerRegistry,
) -> None:
    running = CurrentTask(str(uuid.uuid4()), TaskKind.FACE_SWAP)
    first = registry.announce(worker(tasks=(running,)))
    time.sleep(0.01)  # Redis's clock moves on by whole milliseconds
    more = (*worker().models, LoadedModel(TaskKind.FACE_SWAP, "default"))

    registry.announce(worker(models=more, stopping=True, started_at=first.started_at))

    [seen] = registry.live()
    assert seen == worker(models=more, stopping=True)
    assert seen.tasks == ()
    assert seen.started_at == first.started_at
    assert seen.last_seen_at is not None and first.started_at is not None
    assert seen.last_seen_at > first.started_at


def test_a_silent_worker_drops_out_after_the_window_and_leaves_no_key(
    registry: WorkerRegistry, client: redis.Redis, prefix: str
) -> None:
    registry.announce(worker("gpu-1:101"))
    assert [w.id for w in registry.live()] == ["gpu-1:101"]
    assert 0 < client.pttl(registry.worker_key("gpu-1:101")) <= WINDOW * 1000

    took = until(lambda: registry.count() == 0)

    assert took >= WINDOW * 0.5  # not dropped at once, only once silent
    assert registry.live() == []
    until(lambda: not list(client.scan_iter(match=f"{prefix}*")))


def test_a_worker_that_keeps_announcing_stays_while_a_silent_one_goes(
    registry: WorkerRegistry,
) -> None:
    registry.announce(worker("gpu-1:101"))
    deadline = time.monotonic() + WINDOW * 3
    while time.monotonic() < deadline:
        registry.announce(worker("gpu-2:202"))
        time.sleep(WINDOW / 5)

    assert [w.id for w in registry.live()] == ["gpu-2:202"]
    assert registry.count() == 1


def test_withdraw_removes_a_worker_at_once(
    registry: WorkerRegistry, client: redis.Redis, prefix: str
) -> None:
    registry.announce(worker("gpu-1:101"))
    registry.announce(worker("gpu-2:202"))

    registry.withdraw("gpu-1:101")

    assert [w.id for w in registry.live()] == ["gpu-2:202"]
    assert not client.exists(registry.worker_key("gpu-1:101"))


def test_the_readiness_count_over_asyncio_matches_the_registry(
    registry: WorkerRegistry, redis_url: str, prefix: str
) -> None:
    async def count() -> int:
        async with redis.asyncio.Redis.from_url(redis_url) as probe:
            return await count_live(probe, prefix=prefix, stale_after=WINDOW)

    assert asyncio.run(count()) == 0
    registry.announce(worker("gpu-1:101"))
    registry.announce(worker("gpu-2:202"))
    assert asyncio.run(count()) == registry.count() == 2


# -- the presence middleware on a real Dramatiq worker ------------------------------


class Held:
    """An actor on the image_generation queue that starts the task its message names,
    as the task runner tells the presence middleware, and runs until released."""

    def __init__(self, broker: StubBroker, presence: WorkerPresence) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

        def run_image_generation(task_id: str) -> None:
            presence.running([CurrentTask(task_id, TaskKind.IMAGE_GENERATION)])
            self.started.set()
            self.release.wait(10)

        self.actor = dramatiq.actor(
            actor_name="atelier.image_generation",
            queue_name=spec_for(TaskKind.IMAGE_GENERATION).queue,
            broker=broker,
        )(run_image_generation)


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def test_a_dramatiq_worker_announces_itself_its_task_and_withdraws_when_stopped(
    stub_broker: StubBroker, client: redis.Redis, prefix: str
) -> None:
    cache: list[tuple[TaskKind, str]] = [(TaskKind.BACKGROUND_REMOVAL, "u2netp")]
    presence = WorkerPresence(
        lambda: WorkerRegistry(client, prefix=prefix, stale_after=5),
        loaded=lambda: tuple(cache),
        every=30,  # the task's start and end are announced at once, not on the period
        identity=lambda: "test-host:4242",
    )
    stub_broker.add_middleware(presence)
    held = Held(stub_broker, presence)
    reader = WorkerRegistry(client, prefix=prefix, stale_after=5)
    dramatiq_worker = dramatiq.Worker(stub_broker, worker_threads=1, worker_timeout=50)
    dramatiq_worker.start()
    try:
        until(lambda: reader.count() == 1)
        [booted] = reader.live()
        assert (booted.id, booted.host, booted.pid) == ("test-host:4242", "test-host", 4242)
        assert booted.queues == ("image_generation",)
        assert booted.models == (LoadedModel(TaskKind.BACKGROUND_REMOVAL, "u2netp"),)
        assert booted.tasks == () and not booted.stopping

        task_id = str(uuid.uuid4())
        cache.append((TaskKind.IMAGE_GENERATION, "tiny-random"))
        held.actor.send(task_id)
        assert held.started.wait(5)
        until(lambda: reader.live()[0].tasks != ())
        [busy] = reader.live()
        assert busy.tasks == (CurrentTask(task_id, TaskKind.IMAGE_GENERATION),)
        assert busy.models[-1] == LoadedModel(TaskKind.IMAGE_GENERATION, "tiny-random")
        assert busy.started_at == booted.started_at

        held.release.set()
        until(lambda: reader.live()[0].tasks == ())
    finally:
        held.release.set()
        dramatiq_worker.stop()

    assert reader.live() == []
    assert not client.exists(reader.worker_key("test-host:4242"))


def test_a_worker_whose_entry_was_lost_announces_itself_again_within_a_period(
    stub_broker: StubBroker, client: redis.Redis, prefix: str
) -> None:
    presence = WorkerPresence(
        lambda: WorkerRegistry(client, prefix=prefix, stale_after=5),
        loaded=tuple,
        every=0.2,
        identity=lambda: "test-host:4343",
    )
    stub_broker.add_middleware(presence)
    Held(stub_broker, presence)
    reader = WorkerRegistry(client, prefix=prefix, stale_after=5)
    dramatiq_worker = dramatiq.Worker(stub_broker, worker_threads=1, worker_timeout=50)
    dramatiq_worker.start()
    try:
        until(lambda: reader.count() == 1)
        [first] = reader.live()
        # As after a restart of a Redis without persistence.
        client.delete(reader.key, reader.worker_key("test-host:4343"))
        assert reader.count() == 0

        took = until(lambda: reader.count() == 1)

        assert took < 1.0
        [again] = reader.live()
        assert again.started_at == first.started_at
    finally:
        dramatiq_worker.stop()
