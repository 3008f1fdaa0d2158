"""The harness the benchmarks of the whole stack share (the /proc figures, percentiles,
goals and reports are bench/stats.py's; a run's scratch folder, Redis and CPU meter are
bench/resources.py's):

    CHEAPEST, STACK_ENV               the cheapest real task; the stack's settings for a run
    TaskRun, Follower, run_clients    a lean GraphQL client: HTTP submit, then follow over
                                      graphql-transport-ws; `clients` concurrent clients
    start_stack(stack, workers)       a project.localstack Stack's workers and web, ready
    start_worker_with(stack, env)     one more worker of that stack, with settings of its own
    ensure_model(model_dir)           the tiny-random model the cheapest task runs
    Phases                            seconds each phase of a run took
    reap(popen, timeout)              wait for a child process, killing it after `timeout`
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from project.localstack import ALICE_KEY, WORKER_READY, Process, Stack

CHEAPEST: dict[str, dict[str, Any]] = {
    "imageGeneration": {
        "prompt": "x",
        "width": 64,
        "height": 64,
        "steps": 1,
        "refinePrompt": False,
    }
}
SUBMIT = """
mutation Submit($input: SubmitTaskInput!) { submitTask(input: $input) { id status } }
"""
# What a UI following a task asks for (see the README's example), plus the
# timestamps and pipeline timings the overhead breakdown needs.
FOLLOW = """
subscription Follow($id: ID!) {
  taskProgress(id: $id) {
    id status stage step totalSteps progress sequence createdAt startedAt finishedAt
    error { code message }
    result { seed metadata image { url width height } }
  }
}
"""
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# Generous limits: the benchmark measures the system, not its admission control.
STACK_ENV = {
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
    # As the Procfile runs workers (Dramatiq's default idle poll; project/localstack.py's is 100).
    "dramatiq_worker_timeout": "1000",
    "ATELIER_SUBMIT_RATE": "100000",
    "ATELIER_SUBMIT_BURST": "100000",
    "ATELIER_MAX_UNFINISHED_PER_KEY": "100000",
    "ATELIER_MAX_QUEUED": "100000",
    "ATELIER_WS_MAX_SUBSCRIPTIONS": "1000",
    "ATELIER_WS_MAX_MESSAGES_PER_SECOND": "100000",
    "ATELIER_WS_MESSAGE_BURST": "100000",
}

# -- a lean GraphQL client: HTTP submit, graphql-transport-ws follow ------------------


@dataclass
class TaskRun:
    """What one client saw of one task (times: perf_counter seconds)."""

    id: str = ""
    submitted: float = 0.0  # submit request sent
    accepted: float = 0.0  # submit response received
    running: float | None = None  # first RUNNING event
    terminal: float = 0.0  # terminal event received
    received_at: datetime | None = None  # terminal event, wall clock
    events: int = 0
    final: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def total_ms(self) -> float:
        return (self.terminal - self.submitted) * 1000


class Follower:
    """One websocket, one subscription at a time (graphql-transport-ws)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.operations = 0

    @classmethod
    async def open(cls, url: str, key: str | None) -> Follower:
        ws = await connect(url, subprotocols=["graphql-transport-ws"], max_size=None)  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {key}"} if key else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        return cls(ws)

    async def follow(self, run: TaskRun, timeout: float) -> None:
        self.operations += 1
        op = str(self.operations)
        message = {
            "id": op,
            "type": "subscribe",
            "payload": {"query": FOLLOW, "variables": {"id": run.id}},
        }
        await self.ws.send(json.dumps(message))
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            kind = event.get("type")
            if kind == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if event.get("id") != op:
                continue
            if kind == "next":
                payload = event["payload"]
                if payload.get("errors"):
                    raise RuntimeError(f"subscription error: {payload['errors']}")
                task = payload["data"]["taskProgress"]
                run.events += 1
                if run.running is None and task["status"] == "RUNNING":
                    run.running = time.perf_counter()
                if task["status"] in TERMINAL:
                    run.terminal = time.perf_counter()
                    run.received_at = datetime.now().astimezone()
                    run.final = task
            elif kind == "error":
                raise RuntimeError(f"subscription error: {event.get('payload')}")
            elif kind == "complete":
                if not run.final:
                    raise RuntimeError(f"task {run.id}: completed without a terminal event")
                return

    async def close(self) -> None:
        await self.ws.close()


async def one_task(
    http: httpx.AsyncClient, follower: Follower, task_input: Mapping[str, Any], timeout: float
) -> TaskRun:
    run = TaskRun(submitted=time.perf_counter())
    response = await http.post(
        "/graphql", json={"query": SUBMIT, "variables": {"input": task_input}}
    )
    run.accepted = time.perf_counter()
    body = response.json()
    if body.get("errors") or response.status_code != 200:
        run.error = f"submit: {response.status_code} {body.get('errors')}"
        return run
    run.id = body["data"]["submitTask"]["id"]
    await follower.follow(run, timeout)
    if run.final["status"] != "SUCCEEDED":
        run.error = f"task {run.id} ended {run.final['status']}: {run.final.get('error')}"
    return run


async def run_clients(
    http_url: str,
    ws_url: str,
    *,
    tasks: int,
    clients: int,
    task_input: Mapping[str, Any] = CHEAPEST,
    key: str | None = ALICE_KEY,
    timeout: float = 120.0,
    gap: float = 0.0,
) -> tuple[list[TaskRun], float]:
    """`tasks` tasks over `clients` concurrent clients, each submitting and following
    one task at a time on its own websocket (waiting `gap` seconds before each).
    Returns the runs and the wall time from the first submit to the last terminal
    event, in seconds. Connections are opened before the clock starts."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=http_url, headers=headers, timeout=timeout, limits=limits
    ) as http:
        followers = await asyncio.gather(*(Follower.open(ws_url, key) for _ in range(clients)))
        remaining = tasks
        runs: list[TaskRun] = []

        async def client(follower: Follower) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                if gap:
                    await asyncio.sleep(gap)
                runs.append(await one_task(http, follower, task_input, timeout))

        started = time.perf_counter()
        try:
            await asyncio.gather(*(client(follower) for follower in followers))
        finally:
            await asyncio.gather(*(follower.close() for follower in followers))
    done = [run.terminal for run in runs if run.terminal] or [time.perf_counter()]
    return runs, max(done) - started


# -- the stack -------------------------------------------------------------------------


def start_stack(stack: Stack, workers: int) -> Stack:
    """Start `workers` workers and the web node, and wait until all are ready (the
    workers first: loading torch and the model takes them longest)."""
    try:
        started = [stack.start_worker() for _ in range(workers)]
        stack.start_web()
        for worker in started:
            stack.wait_for_log(worker, WORKER_READY, timeout=300)
    except BaseException:
        print(stack.logs(), file=sys.stderr)
        stack.stop()
        raise
    return stack


def start_worker_with(stack: Stack, env: Mapping[str, str], name: str = "worker") -> Process:
    """A worker of `stack`'s deployment (its Redis, prefixes and models) with `env` over
    the stack's settings (e.g. ATELIER_MAX_BATCH), ready for tasks; its log is `name`'s.
    The caller stops it (`Process.stop`); `stack.stop()` does not."""
    own = replace(stack, extra_env={**stack.extra_env, **env}, processes=[])
    worker = own.start_worker(name)
    try:
        own.wait_for_log(worker, WORKER_READY, timeout=300)
    except BaseException:
        worker.stop()
        raise
    return worker


def ensure_model(model_dir: Path) -> None:
    from pipelines import tiny_random

    target = model_dir / "diffusers" / tiny_random.NAME
    if not (target / "model_index.json").is_file():
        tiny_random.build(target)


class Phases:
    """Seconds each phase of a run took, each from the end of the one before (the
    first from when this was made): call it with a phase's name as the phase ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._clock, 1)
        self._clock = now


def reap(popen: subprocess.Popen[Any], timeout: float) -> None:
    """Wait up to `timeout` seconds for `popen` to end, then kill it."""
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)
