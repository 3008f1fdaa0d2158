"""The broker's consumers pick messages up as soon as they can run, in real Dramatiq
workers on a real Redis: right after the running task ends, and at once when an
idle worker is rung.

What these tests time is set by the test, not the machine: every empty poll is made
to doze `DOZE_SECONDS` (Dramatiq's backoff, forced to its longest), so a consumer
that waited out its doze instead of fetching at once misses each bound by seconds."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from actors.queues import consumer
from actors.queues.consumer import DoorbellRedisBroker

# Every empty poll dozes this long (see `dozing`); the bounds below are a fraction of it.
DOZE_SECONDS = 10.0
PROMPT = DOZE_SECONDS / 5
# How long a worker thread waits for work before looking again, and so what stopping
# a worker waits on.
WORKER_TIMEOUT_MS = 1000


@pytest.fixture(autouse=True)
def dozing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each backoff of a consumer is `DOZE_SECONDS`, from the first empty poll on."""

    def longest(attempts: int, **_: object) -> tuple[int, int]:
        return attempts + 1, int(DOZE_SECONDS * 1000)

    monkeypatch.setattr(consumer, "compute_backoff", longest)


class Bench:
    """A broker on a private namespace, an actor that sleeps and notes when it ran."""

    def __init__(self, broker_class: type[RedisBroker], redis_url: str) -> None:
        self.namespace = f"atelier-test-consumer-{uuid.uuid4().hex[:8]}"
        self.client = redis.Redis.from_url(redis_url)
        self.broker = broker_class(client=self.client, namespace=self.namespace)
        self.spans: list[tuple[float, float]] = []
        self.sent: list[float] = []
        self._lock = threading.Lock()

        @dramatiq.actor(broker=self.broker, queue_name="work", max_retries=0)
        def work(seconds: float) -> None:
            started = time.monotonic()
            time.sleep(seconds)
            with self._lock:
                self.spans.append((started, time.monotonic()))

        self.work = work

    def send(self, seconds: float) -> None:
        self.sent.append(time.monotonic())
        self.work.send(seconds)

    @contextmanager
    def workers(self, count: int) -> Iterator[None]:
        workers = []
        for _ in range(count):
            worker = dramatiq.Worker(
                self.broker, worker_threads=1, worker_timeout=WORKER_TIMEOUT_MS
            )
            worker.queue_prefetch = 1  # as the Procfile's dramatiq_queue_prefetch=1
            worker.start()
            workers.append(worker)
        try:
            yield
        finally:
            # Dozing consumers (of the queue and its delay queue) notice they are to
            # stop when they wake: ring until they have.
            stopped = threading.Event()
            ringer = threading.Thread(target=self._ring_until, args=(stopped,))
            ringer.start()
            for worker in workers:
                worker.stop()
            stopped.set()
            ringer.join()
            self.client.delete(*self.client.keys(f"{self.namespace}:*") or ["-"])

    def _ring_until(self, stopped: threading.Event) -> None:
        queues = self.broker.get_declared_queues() | self.broker.get_declared_delay_queues()
        while not stopped.wait(0.05):
            for queue in queues:
                self.broker.ring(queue)

    def wait_for(self, tasks: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.spans) < tasks:
            assert time.monotonic() < deadline, f"only {len(self.spans)} of {tasks} tasks ran"
            time.sleep(0.01)


def gaps_between_tasks(broker_class: type[RedisBroker], redis_url: str) -> list[float]:
    """Seconds from the end of each task to the start of the next one, all queued at once
    for one worker thread with a prefetch of one."""
    bench = Bench(broker_class, redis_url)
    for _ in range(4):
        bench.send(1.0)
    with bench.workers(1):
        bench.wait_for(4, timeout=30)
    gaps = [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(sorted(bench.spans))]
    print(f"gaps between tasks (ms): {[round(gap * 1000, 1) for gap in gaps]}")
    return gaps


def pickup_after_idling(
    broker_class: type[RedisBroker], redis_url: str, workers: int, rounds: int = 1
) -> list[float]:
    """Seconds from send to start, for `workers` tasks sent at once to as many workers
    that are dozing (see `dozing`), in each of `rounds`."""
    bench = Bench(broker_class, redis_url)
    with bench.workers(workers):
        for done in range(workers, workers * rounds + 1, workers):
            time.sleep(0.5)  # past their first empty poll: dozing
            for _ in range(workers):
                bench.send(0.2)
            bench.wait_for(done, timeout=30)
    starts = sorted(start for start, _ in bench.spans)
    pickups = [start - sent for start, sent in zip(starts, bench.sent, strict=True)]
    print(f"send -> start (ms): {[round(p * 1000, 1) for p in pickups]}")
    return pickups


def test_the_next_task_starts_as_soon_as_the_running_one_ends(redis_url: str) -> None:
    assert max(gaps_between_tasks(DoorbellRedisBroker, redis_url)) < PROMPT


@pytest.mark.parametrize("workers", [1, 2])
def test_idle_workers_start_a_new_task_at_once(redis_url: str, workers: int) -> None:
    # Two messages at once wake both idle workers: each ring wakes one.
    assert max(pickup_after_idling(DoorbellRedisBroker, redis_url, workers)) < PROMPT


def test_messages_a_dead_worker_had_fetched_go_back_to_their_queue_at_the_next_sweep(
    redis_url: str,
) -> None:
    namespace = f"atelier-test-recover-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    try:
        dead = DoorbellRedisBroker(client=client, namespace=namespace)
        dead.declare_queue("work")
        dead.enqueue(
            dramatiq.Message(queue_name="work", actor_name="work", args=(), kwargs={}, options={})
        )
        assert len(dead.do_fetch("work", 1)) == 1  # prefetched, never to be acked
        assert client.llen(f"{namespace}:work") == 0
        # The worker falls silent: its last heartbeat long past the timeout.
        client.zadd(f"{namespace}:__heartbeats__", {dead.broker_id: 0})

        alive = DoorbellRedisBroker(client=client, namespace=namespace)
        alive.declare_queue("work")
        alive.recover_from_dead_workers()
        assert client.llen(f"{namespace}:work") == 1
        # A live worker's fetched messages stay where they are.
        assert len(alive.do_fetch("work", 1)) == 1
        alive.recover_from_dead_workers()
        assert client.llen(f"{namespace}:work") == 0
    finally:
        for key in client.scan_iter(f"{namespace}*"):
            client.delete(key)
