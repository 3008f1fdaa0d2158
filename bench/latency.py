"""Latency of the job system as a client sees it, and the worker's memory over many tasks.

Starts its own daphne and one Dramatiq worker (project/localstack.py) on the local Redis
(or an embedded one), then runs the cheapest real task (tiny-random, 64x64, one
step) `tasks` times, one at a time, all submitted and followed over one websocket
connection:
  - submit -> first RUNNING event at the client
  - worker's finish -> terminal event at the client (finishedAt vs receipt time;
    both clocks are this machine's)
and the worker process's RSS before and after the run.

Result (bench/stats.py: run_measured, report): tasks, submitToFirstRunningMs and
finishToTerminalEventMs ({p50, p95, p99, max}), workerRssMb {before, after}, goals,
quick, table. `--quick`: 20 tasks (QUICK).

    python -m bench.latency [--tasks 200] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from gql import Client, gql
from gql.client import AsyncClientSession

from bench.harness import CHEAPEST, STACK_ENV, TERMINAL, ensure_model
from bench.resources import scratch
from bench.stats import goal, report, rss_mb, run_measured, summary, table, worker_pid
from project.localclient import PROGRESS, SUBMIT, Api
from project.localstack import Stack

TAILS = (95, 99)  # percentiles reported beside p50 and max
QUICK = {"tasks": 20}


async def one_task(session: AsyncClientSession) -> tuple[float, float]:
    started = time.perf_counter()
    submitted = await session.execute(gql(SUBMIT), variable_values={"input": CHEAPEST})
    task_id = submitted["submitTask"]["id"]
    first_running = None
    async for event in session.subscribe(gql(PROGRESS), variable_values={"id": task_id}):
        task = event["taskProgress"]
        if first_running is None and task["status"] == "RUNNING":
            first_running = time.perf_counter() - started
        if task["status"] in TERMINAL:
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


def measure(tasks: int = 200) -> dict[str, Any]:
    """One task at a time, `tasks` times, on a stack of its own."""
    with scratch("atelier-latency-", None) as (work, redis_url, _):
        ensure_model(work / "models")
        # STACK_ENV: back-to-back tasks over one websocket go past its default message rate.
        stack = Stack(redis_url, work / "stack", work / "models", dict(STACK_ENV))
        with stack.running():
            api = Api(stack.http_url, stack.ws_url)
            asyncio.run(run_tasks(api, 3))  # warm-up: first task, imports, connections
            pid = worker_pid(stack.processes[-1].popen.pid)
            rss_before = rss_mb(pid)
            to_running, to_terminal = asyncio.run(run_tasks(api, tasks))
            rss_after = rss_mb(pid)
    terminal = summary(to_terminal, TAILS)
    return {
        "tasks": tasks,
        "submitToFirstRunningMs": summary(to_running, TAILS),
        "finishToTerminalEventMs": terminal,
        "workerRssMb": {"before": round(rss_before, 1), "after": round(rss_after, 1)},
        "goals": {"terminal event latency p50 <= 10 ms": goal(terminal["p50"], 10, at_least=False)},
    }


def render(result: Mapping[str, Any]) -> str:
    rows = [
        ["submit -> first RUNNING", *result["submitToFirstRunningMs"].values()],
        ["worker's finish -> terminal event", *result["finishToTerminalEventMs"].values()],
    ]
    rss = result["workerRssMb"]
    return (
        table([f"ms ({result['tasks']} tasks)", "p50", "p95", "p99", "max"], rows)
        + f"\nworker RSS: {rss['before']} MiB before the tasks, {rss['after']} MiB after"
    )


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="20 tasks, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    report(run(quick=True) if args.quick else run(tasks=args.tasks), args.json)


if __name__ == "__main__":
    main()
