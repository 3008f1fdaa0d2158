"""Leak checks against real processes: memory that grows with work, and Redis keys
that outlive the work they belong to.

One stack (daphne, one Dramatiq worker, the session's Redis) serves the module; the
tests run in file order and the last one inspects what the first two left behind.
Figures are printed (`pytest -s`) and repeated in each assertion message.

Bounds. Memory is read after a warm-up (lazy imports, caches and allocator arenas
filled) and again after the measured span, so a leak of L bytes per unit of work
shows as about L x units. RSS and its anonymous part (heap and stacks, where leaked
objects and native buffers live) must both grow less than the bound:

- worker, 10 MiB over 400 tasks. Healthy runs (2 cores) grew 0.4-3.5 MiB, 1-9
  KiB/task. A leak of 26 KiB/task breaks it; an injected 50 KiB/task leak (a kept
  input or result image) grew the worker by 20.3 MiB.
- web, 6 MiB over 1,800 subscriptions. Healthy runs grew 0.02-0.3 MiB, under 0.2
  KiB each. A leak of 3.5 KiB/subscription breaks it; an injected 5 KiB one (a kept
  operation, group membership or listener queue) grew daphne by 9.1 MiB.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.client import Api
from tests.reliability.procstats import Memory, children, cpu_seconds, memory
from tests.stack import Process, Stack, running_stack
from tests.wsclient import TRANSPORT_WS, Session, session

LEAK_ENV = {
    # Only the pipeline these tests run: a quicker worker start.
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
    # The web test sends thousands of messages on a handful of sockets.
    "ATELIER_WS_MAX_MESSAGES_PER_SECOND": "100000",
    "ATELIER_WS_MESSAGE_BURST": "100000",
    "ATELIER_WS_MAX_SUBSCRIPTIONS": "100",
    # The worker test queues 400 tasks at once.
    "ATELIER_MAX_UNFINISHED_PER_KEY": "1000",
}

# The cheapest real task: one denoising step of tiny-random at the minimum size, about
# 35 ms in the worker on 2 cores (u2netp on an 8x8 image takes 350-1300 ms).
CHEAPEST = {
    "imageGeneration": {
        "prompt": "leak check",
        "width": 64,
        "height": 64,
        "steps": 1,
        "seed": 1,
        "refinePrompt": False,
    }
}
SUBMIT = "mutation($input: SubmitTaskInput!) { submitTask(input: $input) { id status } }"
FOLLOW = "subscription($id: ID!) { taskProgress(id: $id) { id status sequence } }"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
MiB = 2**20
WORKER_BOUND, WEB_BOUND = 10 * MiB, 6 * MiB

WORKER_WARMUP, WORKER_TASKS = 100, 500
WEB_WARMUP, WEB_CYCLES = 200, 2000
SOCKETS = 4


@pytest.fixture(scope="module")
def leak_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("leak-stack")
    with running_stack(redis_url, folder, stack_models, LEAK_ENV) as running:
        yield running


def process(stack: Stack, prefix: str) -> Process:
    (found,) = [p for p in stack.processes if p.name.startswith(prefix)]
    return found


def growth(title: str, before: Memory, after: Memory, units: int, unit: str) -> str:
    grown = after - before
    return (
        f"{title} (pid {after.pid}) over {units} {unit}s: "
        f"RSS {before.rss / MiB:.1f} -> {after.rss / MiB:.1f} MiB "
        f"({grown.rss / MiB:+.2f} MiB, {grown.rss / units / 1024:+.2f} KiB/{unit}), "
        f"anonymous {before.anon / MiB:.1f} -> {after.anon / MiB:.1f} MiB "
        f"({grown.anon / MiB:+.2f} MiB, {grown.anon / units / 1024:+.2f} KiB/{unit})"
    )


def cost(units: int, unit: str, wall: float, cpu: float) -> str:
    """Time per unit: wall clock, and the measured process's own CPU time."""
    return f"{wall / units * 1000:.1f} ms/{unit} wall, {cpu / units * 1000:.1f} ms/{unit} CPU"


# -- worker ----------------------------------------------------------------------


def submit(stack: Stack, count: int, threads: int = 4) -> list[str]:
    """Submit `count` cheapest tasks over HTTP, `threads` requests at a time."""
    clients = [Api(stack.http_url, stack.ws_url) for _ in range(threads)]

    def one(index: int) -> str:
        task = clients[index % threads].data(SUBMIT, input=CHEAPEST)["submitTask"]
        assert task["status"] == "QUEUED", task
        return str(task["id"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def wait_all(api: Api, ids: list[str], stall: float = 90) -> dict[str, int]:
    """Until every task has ended; how many ended in each status. Fails once no
    task has ended for `stall` seconds (a worker's start counts in that).

    Reads the ten oldest unfinished ones per request, twice a second: the only
    worker takes them in order, so polling costs the web little while it runs."""
    pending = list(ids)
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + stall
    while pending:
        batch = pending[:10]
        query = "query({}) {{ {} }}".format(
            ", ".join(f"$i{n}: ID!" for n in range(len(batch))),
            " ".join(f"t{n}: task(id: $i{n}) {{ status }}" for n in range(len(batch))),
        )
        data = api.data(query, **{f"i{n}": task_id for n, task_id in enumerate(batch)})
        statuses = [data[f"t{n}"]["status"] for n in range(len(batch))]
        ended = list(itertools.takewhile(TERMINAL.__contains__, statuses))
        for status in ended:
            outcomes[status] = outcomes.get(status, 0) + 1
        del pending[: len(ended)]
        if ended:
            deadline = time.monotonic() + stall
        if pending and len(ended) < len(batch):
            assert time.monotonic() < deadline, f"{len(pending)} of {len(ids)} tasks stuck"
            time.sleep(0.5)
    return outcomes


def run_tasks(stack: Stack, count: int) -> None:
    """`count` cheapest tasks from submit to SUCCEEDED."""
    ids = submit(stack, count)
    outcomes = wait_all(Api(stack.http_url, stack.ws_url), ids)
    assert outcomes == {"SUCCEEDED": count}, outcomes


def task_runner(worker: Process) -> int:
    """The process that runs tasks: the Dramatiq main process's worker child."""
    found = children(worker.popen.pid)
    assert found, f"{worker.name} has no worker process"
    # One with `--processes 1`; should Dramatiq add a helper, the one holding the models.
    return max(found, key=lambda pid: memory(pid).rss)


def test_worker_memory_stays_flat_over_500_tasks(leak_stack: Stack) -> None:
    worker = process(leak_stack, "worker")
    started = time.monotonic()
    run_tasks(leak_stack, WORKER_WARMUP)  # includes the worker's start
    warmed = time.monotonic()
    runner = task_runner(worker)
    before, cpu = memory(runner), cpu_seconds(runner)
    run_tasks(leak_stack, WORKER_TASKS - WORKER_WARMUP)
    after, cpu = memory(runner), cpu_seconds(runner) - cpu
    finished = time.monotonic()
    measured = WORKER_TASKS - WORKER_WARMUP
    figures = (
        growth("worker", before, after, measured, "task")
        + f"; first {WORKER_WARMUP} tasks (with the worker's start) {warmed - started:.1f} s, "
        + f"then {cost(measured, 'task', finished - warmed, cpu)}"
    )
    print(f"\n{figures}")
    grown = after - before
    assert grown.rss < WORKER_BOUND and grown.anon < WORKER_BOUND, figures


# -- web -------------------------------------------------------------------------


@contextmanager
def worker_paused(worker: Process) -> Iterator[None]:
    """The worker stopped (SIGSTOP), so a task submitted meanwhile stays QUEUED, as
    behind a busy worker, without a long task burning a core the web test needs."""
    os.killpg(worker.popen.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(worker.popen.pid, signal.SIGCONT)


async def cycle(ws: Session, op: str, task_id: str, finished: bool) -> None:
    """One subscription: a finished task's ends by itself (its snapshot, then
    `complete`); a queued task's is unsubscribed after its snapshot."""
    await ws.subscribe(op, FOLLOW, id=task_id)
    while True:
        message = await ws.receive()
        assert message.get("id") == op, message
        assert message["type"] in ("next", "complete"), message
        if message["type"] == "complete":
            assert finished, message
            return
        task = message["payload"]["data"]["taskProgress"]
        assert (task["status"] in TERMINAL) == finished, task
        if not finished:
            await ws.send({"type": "complete", "id": op})
            return


async def cycles(stack: Stack, count: int, tasks: list[tuple[str, bool]], tag: str) -> None:
    """`count` subscribe/unsubscribe cycles over SOCKETS connections, alternating
    between `tasks` ((id, finished) pairs)."""

    async def connection(first: int) -> None:
        async with session(stack.ws_url, TRANSPORT_WS) as ws:
            await ws.init()
            for n in range(first, count, SOCKETS):
                task_id, finished = tasks[(n // SOCKETS) % len(tasks)]
                await cycle(ws, f"{tag}-{n}", task_id, finished)

    await asyncio.gather(*(connection(first) for first in range(SOCKETS)))


def test_web_memory_stays_flat_over_2000_subscriptions(leak_stack: Stack) -> None:
    web, worker = process(leak_stack, "web"), process(leak_stack, "worker")
    api = Api(leak_stack.http_url, leak_stack.ws_url)
    (done,) = submit(leak_stack, 1)
    assert wait_all(api, [done]) == {"SUCCEEDED": 1}
    with worker_paused(worker):
        (queued,) = submit(leak_stack, 1)
        tasks = [(done, True), (queued, False)]
        started = time.monotonic()
        asyncio.run(cycles(leak_stack, WEB_WARMUP, tasks, "warm-up"))
        warmed = time.monotonic()
        before, cpu = memory(web.popen.pid), cpu_seconds(web.popen.pid)
        asyncio.run(cycles(leak_stack, WEB_CYCLES - WEB_WARMUP, tasks, "measured"))
        finished = time.monotonic()
        after, cpu = memory(web.popen.pid), cpu_seconds(web.popen.pid) - cpu
        assert api.data("mutation($id: ID!) { cancelTask(id: $id) { status } }", id=queued) == {
            "cancelTask": {"status": "CANCELLED"}
        }
    measured = WEB_CYCLES - WEB_WARMUP
    figures = (
        growth("web", before, after, measured, "cycle")
        + f"; {WEB_WARMUP} warm-up cycles {warmed - started:.1f} s, "
        + f"then {cost(measured, 'cycle', finished - warmed, cpu)}"
    )
    print(f"\n{figures}")
    grown = after - before
    assert grown.rss < WEB_BOUND and grown.anon < WEB_BOUND, figures


# -- redis -----------------------------------------------------------------------


def allowed_forever(stack: Stack) -> set[str]:
    """Keys that may live without a TTL once every task has ended: infrastructure
    that is one key per deployment, not per task or per caller."""
    namespace = stack.env["ATELIER_BROKER_NAMESPACE"]
    return {
        # Dramatiq's registry of workers (worker id -> last heartbeat): one per
        # namespace, never expired by Dramatiq, which prunes dead workers from it.
        f"{namespace}:__heartbeats__",
    }


def forever_keys(client: redis.Redis, stack: Stack) -> dict[str, str]:
    """Keys under the stack's prefixes with no TTL, with their Redis types."""
    env = stack.env
    prefixes = (
        env["ATELIER_KEY_PREFIX"],  # the task store
        env["ATELIER_BROKER_NAMESPACE"],  # Dramatiq's queues
        env["ATELIER_CHANNEL_PREFIX"],  # the channel layer
    )
    found: dict[str, str] = {}
    for prefix in prefixes:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            if client.ttl(key) == -1:  # -2: gone meanwhile
                found[str(key)] = str(client.type(key))
    return found


def test_no_key_without_ttl_once_every_task_has_ended(leak_stack: Stack) -> None:
    # One more task through the only worker: the queue message of the task the web
    # test cancelled is delivered (and dropped) before it.
    run_tasks(leak_stack, 1)
    allowed = allowed_forever(leak_stack)
    # A message is acknowledged just after its task is written SUCCEEDED: give
    # Dramatiq's in-flight bookkeeping a moment to clear.
    deadline = time.monotonic() + 5
    with redis.Redis.from_url(leak_stack.redis_url, decode_responses=True) as client:
        while True:
            found = forever_keys(client, leak_stack)
            stray = {key: kind for key, kind in found.items() if key not in allowed}
            if not stray or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    print(f"\nkeys without a TTL, beyond {sorted(allowed)}: {stray}")
    assert stray == {}, f"keys without a TTL after every task ended: {stray}"
