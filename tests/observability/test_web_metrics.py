"""The web node's /metrics: queue depth read from Redis, websocket and subscription
gauges that follow real connections, and an answer (never a 500, never a hang) while
Redis is stopped or frozen."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from project.devredis import EmbeddedRedis
from tests import wsclient
from tests.api.scenarios import generation
from tests.client import PROGRESS, Api
from tests.observability.scrape import Scrape, scrape, scrape_until
from tests.stack import BOB_KEY, OPS_KEY, Stack

PRIORITY_SUBMIT = """
mutation S($input: SubmitTaskInput!, $priority: TaskPriority!) {
  submitTask(input: $input, priority: $priority) { id }
}"""
QUEUES = """{ operations { queues { name queuedTasks byPriority { priority queuedTasks }
  fairShare { owner priority roundsAhead } } } }"""


def test_queues_show_depth_per_priority_and_each_callers_standing_in_fair_share(
    idle_api: Api, idle_stack: Stack, idle_metrics: str
) -> None:
    bob = Api(idle_stack.http_url, idle_stack.ws_url, key=BOB_KEY)
    ops = Api(idle_stack.http_url, idle_stack.ws_url, key=OPS_KEY)
    alice_normal = [idle_api.submit(generation(f"alice {n}"))["id"] for n in range(3)]
    alice_low = idle_api.data(PRIORITY_SUBMIT, input=generation("later"), priority="LOW")
    bob_normal = bob.submit(generation("bob"))["id"]
    submitted = [*alice_normal, alice_low["submitTask"]["id"], bob_normal]
    try:
        metrics = scrape(idle_metrics)
        queue = {"queue": "image_generation"}
        assert metrics.value("atelier_queue_tasks_by_priority", **queue, priority="NORMAL") == 4
        assert metrics.value("atelier_queue_tasks_by_priority", **queue, priority="LOW") == 1
        assert metrics.value("atelier_queue_tasks_by_priority", **queue, priority="HIGH") == 0
        rounds = "atelier_queue_owner_rounds_ahead"
        assert metrics.value(rounds, **queue, priority="NORMAL", owner="alice") == 3
        assert metrics.value(rounds, **queue, priority="NORMAL", owner="bob") == 1

        queues = ops.data(QUEUES)["operations"]["queues"]
        (shown,) = [q for q in queues if q["name"] == "image_generation"]
        assert shown["queuedTasks"] == 5
        assert shown["byPriority"] == [
            {"priority": "HIGH", "queuedTasks": 0},
            {"priority": "NORMAL", "queuedTasks": 4},
            {"priority": "LOW", "queuedTasks": 1},
        ]
        assert shown["fairShare"] == [
            {"owner": "alice", "priority": "NORMAL", "roundsAhead": 3},
            {"owner": "bob", "priority": "NORMAL", "roundsAhead": 1},
            {"owner": "alice", "priority": "LOW", "roundsAhead": 1},
        ]
    finally:
        for task_id in submitted[:4]:
            idle_api.cancel(task_id)
        bob.cancel(bob_normal)


def test_queue_depth_counts_waiting_tasks_and_unfetched_messages(
    idle_api: Api, idle_metrics: str
) -> None:
    before = scrape(idle_metrics)
    default = [idle_api.submit(generation(f"waiting {n}"))["id"] for n in range(3)]
    other = idle_api.submit(generation("on another model's queue", model="sd15"))["id"]

    queued = scrape(idle_metrics)
    idle_api.cancel(default[0])
    after_cancel = scrape(idle_metrics)

    for queue, count in (("image_generation", 3), ("image_generation.sd15", 1)):
        assert queued.delta(before, "atelier_queue_tasks", queue=queue) == count
        # No worker: every message still waits for one.
        assert queued.delta(before, "atelier_queue_messages", queue=queue) == count
    assert queued.value("atelier_tasks_running") == 0
    assert queued.delta(before, "atelier_tasks_submitted_total", kind="IMAGE_GENERATION") == 4
    # A cancelled task leaves its queue at once; its message stays until a worker drops it.
    assert after_cancel.value("atelier_queue_tasks", queue="image_generation") == 2
    assert after_cancel.delta(before, "atelier_queue_messages", queue="image_generation") == 3
    cancelled = {"kind": "IMAGE_GENERATION", "status": "CANCELLED"}
    assert after_cancel.delta(queued, "atelier_tasks_finished_total", **cancelled) == 1
    for task_id in (*default[1:], other):
        idle_api.cancel(task_id)
    assert scrape(idle_metrics).value("atelier_queue_tasks", queue="image_generation") == 0


def gauges(url: str) -> tuple[float, float]:
    found = scrape(url)
    return found.value("atelier_websocket_connections"), found.value("atelier_subscriptions")


async def until_gauges(url: str, expected: tuple[float, float], timeout: float = 10) -> None:
    """The gauges reach `expected` (a closed socket is noticed a moment later)."""
    deadline = time.monotonic() + timeout
    while (found := await asyncio.to_thread(gauges, url)) != expected:
        assert time.monotonic() < deadline, f"gauges {found}, expected {expected}"
        await asyncio.sleep(0.05)


def test_websocket_and_subscription_gauges_follow_open_connections(
    idle_stack: Stack, idle_api: Api, idle_metrics: str
) -> None:
    task_id = idle_api.submit(generation("followed while queued"))["id"]
    sockets, subscriptions = gauges(idle_metrics)

    async def scenario() -> None:
        url = idle_stack.ws_url
        async with wsclient.session(url, wsclient.TRANSPORT_WS) as first:
            await first.init()
            await until_gauges(idle_metrics, (sockets + 1, subscriptions))
            await first.subscribe("follow", PROGRESS, id=task_id)
            snapshot = await first.receive()
            assert snapshot["type"] == "next", snapshot
            await until_gauges(idle_metrics, (sockets + 1, subscriptions + 1))
            async with wsclient.session(url, wsclient.LEGACY_WS) as second:
                await second.init()
                await until_gauges(idle_metrics, (sockets + 2, subscriptions + 1))
                await first.send(first.frames.stop("follow"))
                await until_gauges(idle_metrics, (sockets + 2, subscriptions))
            await until_gauges(idle_metrics, (sockets + 1, subscriptions))
        await until_gauges(idle_metrics, (sockets, subscriptions))

    asyncio.run(scenario())
    idle_api.cancel(task_id)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lone_web(private_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(private_redis.url, tmp_path / "stack", tmp_path / "models")
    with stack.held(purge=False):  # the test may leave its private Redis stopped
        stack.start_web()
        yield stack


def timed_scrape(url: str) -> tuple[Scrape, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    return Scrape.parse(response.text), took


def test_metrics_answer_with_redis_down_while_redis_is_stopped_or_frozen(
    lone_web: Stack, private_redis: EmbeddedRedis
) -> None:
    url = f"{lone_web.http_url}/metrics"
    up = scrape(url)
    assert up.value("atelier_redis_up") == 1
    assert up.get("atelier_queue_tasks", queue="image_generation") == 0

    private_redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        frozen, took = timed_scrape(url)
    finally:
        private_redis.process.send_signal(signal.SIGCONT)
    private_redis.stop()
    stopped, took_stopped = timed_scrape(url)

    for down, seconds in ((frozen, took), (stopped, took_stopped)):
        assert seconds < 5, f"a scrape took {seconds:.1f} s with Redis down"
        assert down.value("atelier_redis_up") == 0
        assert down.named("atelier_queue_tasks") == {}  # no cluster figure it could not read
        assert down.get("atelier_websocket_connections") == 0  # the node's own are still there
        assert down.get("process_cpu_seconds_total") is not None
    assert frozen.delta(up, "atelier_redis_errors_total", error="timeout") >= 1
    assert stopped.delta(frozen, "atelier_redis_errors_total", error="connection") >= 1

    private_redis.start()
    back = scrape_until(url, lambda now: now.value("atelier_redis_up") == 1)
    assert back.value("atelier_redis_up") == 1
