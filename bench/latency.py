"""Latency of the job system as a client sees it, and the worker's memory over many tasks.

Starts its own daphne and one Dramatiq worker (project/localstack.py) on the local Redis
(or an embedded one), then runs the cheapest real task (tiny-random, 64x64, one
step) N times, one at a time, each over one websocket connection:
  - submit -> first RUNNING event at the client
  - worker's finish -> terminal event at the client (finishedAt vs receipt time;
    both clocks are this machine's)
and the worker process's RSS before and after the run.

    python -m bench.latency [--tasks 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from gql import Client, gql

from bench.harness import CHEAPEST, STACK_ENV, pick_redis
from bench.stats import goal, rss_mb, summary, worker_pid
from pipelines import tiny_random
from project.localclient import PROGRESS, SUBMIT, Api
from project.localstack import WORKER_READY, Stack

TAILS = (95, 99)  # percentiles reported beside p50 and max


async def one_task(session: Client) -> tuple[float, float]:
    started = time.perf_counter()
    submitted = await session.execute(gql(SUBMIT), variable_values={"input": CHEAPEST})
    task_id = submitted["submitTask"]["id"]
    first_running = None
    async for event in session.subscribe(gql(PROGRESS), variable_values={"id": task_id}):
        task = event["taskProgress"]
        if first_running is None and task["status"] == "RUNNING":
            first_running = time.perf_counter() - started
        if task["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            received = datetime.now().astimezone()
            assert task["status"] == "SUCCEEDED", task["error"]
            finished = datetime.fromisoformat(task["finishedAt"])
            if first_running is None:  # ran entirely between submit and subscribe
                first_running = time.perf_counter() - started
            return first_running, (received - finished).total_seconds()
    raise RuntimeError("subscription ended without a terminal event")


async def run_tasks(api: Api, count: int) -> tuple[list[float], list[float]]:
    to_running, to_terminal = [], []
    async with Client(transport=api.transport()) as session:
        for _ in range(count):
            running, terminal = await one_task(session)
            to_running.append(running * 1000)
            to_terminal.append(terminal * 1000)
    return to_running, to_terminal


def run(tasks: int = 200, quick: bool = False) -> dict[str, Any]:
    """One task at a time, `tasks` times (20 when quick), on a stack of its own."""
    if quick:
        tasks = 20
    work = Path(tempfile.mkdtemp(prefix="atelier-latency-"))
    redis_url, embedded = pick_redis(None, work / "redis")
    tiny_random.build(work / "models" / "diffusers" / tiny_random.NAME)
    # Back-to-back tasks over one websocket go past its default message rate.
    stack = Stack(redis_url, work / "stack", work / "models", dict(STACK_ENV))
    try:
        stack.start_web()
        worker = stack.start_worker()
        stack.wait_for_log(worker, WORKER_READY, timeout=300)
        api = Api(stack.http_url, stack.ws_url)
        asyncio.run(run_tasks(api, 3))  # warm-up: first task, imports, connections
        pid = worker_pid(worker.popen.pid)
        rss_before = rss_mb(pid)
        to_running, to_terminal = asyncio.run(run_tasks(api, tasks))
        rss_after = rss_mb(pid)
    finally:
        stack.stop()
        stack.purge()
        if embedded:
            embedded.stop()
    terminal = summary(to_terminal, TAILS)
    return {
        "tasks": tasks,
        "submitToFirstRunningMs": summary(to_running, TAILS),
        "finishToTerminalEventMs": terminal,
        "workerRssMb": {"before": round(rss_before, 1), "after": round(rss_after, 1)},
        "goals": {"terminal event latency p50 <= 10 ms": goal(terminal["p50"], 10, at_least=False)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="20 tasks, for a smoke test")
    args = parser.parse_args()
    print(json.dumps(run(args.tasks, args.quick), indent=2))


if __name__ == "__main__":
    main()
