"""The broker's consumer fetches the next message as soon as the running one is acked,
in a real Dramatiq worker on a real Redis."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
import uuid

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from actors.consumer import PromptRedisBroker

TASK_SECONDS = 1.0
# A long idle poll makes the consumer's doze obvious: Dramatiq's own consumer sleeps
# up to this long while its prefetched message runs.
WORKER_TIMEOUT_MS = 1000


def gaps_between_tasks(broker_class: type[RedisBroker], redis_url: str, tasks: int) -> list[float]:
    """Seconds from the end of each task to the start of the next one, all queued at once
    for one worker thread with a prefetch of one."""
    namespace = f"atelier-test-consumer-{uuid.uuid4().hex[:8]}"
    broker = broker_class(client=redis.Redis.from_url(redis_url), namespace=namespace)
    spans: list[tuple[float, float]] = []
    done = threading.Event()

    @dramatiq.actor(broker=broker, queue_name="work", max_retries=0)
    def work() -> None:
        started = time.monotonic()
        time.sleep(TASK_SECONDS)
        spans.append((started, time.monotonic()))
        if len(spans) == tasks:
            done.set()

    for _ in range(tasks):
        work.send()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=WORKER_TIMEOUT_MS)
    worker.queue_prefetch = 1  # as the Procfile's dramatiq_queue_prefetch=1
    worker.start()
    try:
        assert done.wait(tasks * TASK_SECONDS + 20), "the worker did not run every task"
    finally:
        worker.stop()
        broker.client.delete(*broker.client.keys(f"{namespace}:*") or ["-"])
    return [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(spans)]


def test_the_next_task_starts_as_soon_as_the_running_one_ends(redis_url: str) -> None:
    gaps = gaps_between_tasks(PromptRedisBroker, redis_url, tasks=4)

    print(f"gaps between tasks (ms): {[round(gap * 1000, 1) for gap in gaps]}")
    assert statistics.median(gaps) < 0.02


def test_control_dramatiqs_own_consumer_dozes_while_its_task_runs(redis_url: str) -> None:
    # What the test above guards against: without the change the gaps are a good part
    # of the backoff reached while the task ran, so the bound above can fail.
    gaps = gaps_between_tasks(RedisBroker, redis_url, tasks=4)

    print(f"gaps between tasks (ms): {[round(gap * 1000, 1) for gap in gaps]}")
    assert statistics.median(gaps) > 0.05
