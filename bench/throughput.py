"""Throughput and per-task overhead of the whole job system, against two baselines.

Starts its own daphne and Dramatiq workers (project/localstack.py, a private key prefix
on the local Redis, or an embedded one), then:

  ours        `tasks` of the cheapest real task (tiny-random, 64x64, one step, no
              prompt refinement) submitted over GraphQL HTTP by `clients` concurrent
              clients, each following its task to the terminal event over its own
              websocket (graphql-transport-ws); `workers` worker processes.
              tasks/s = tasks / (first submit .. last terminal event).
  baseline A  the same TextToImage.run calls in a plain loop in one process (model
              loaded once, same parameters, OMP_NUM_THREADS=1 like the workers).
              "A x workers, ideal" is A times the worker count; "A x workers,
              measured" runs that many loops side by side on this machine
              (bench/baseline_loop.py).
  baseline B  bare Dramatiq on the same Redis: send + a no-op actor + ack, same
              worker layout (bench/bare_dramatiq.py).
  overhead    `sequential` tasks one at a time (one client), each right after one
              bare call in baseline A's process, so noise hits both alike: p50 of
              (client-observed submit .. terminal event - that bare call), plus the
              time outside the pipeline call (client time - the pipeline's own run
              time in the worker) and a breakdown from the task's own timestamps;
              then `idle_tasks` tasks each after `idle_gap` s of idle workers.

Figures are ratios to baselines measured in the same run; absolute numbers are
in the result too.

    python -m bench.throughput [--tasks 1000] [--clients 16] [--workers 2] [--quick]
        [--worker-env dramatiq_worker_timeout=10]  (experiments on the workers' settings)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from bench import bare_dramatiq
from bench.baseline_loop import LoopChild, baseline_a
from bench.harness import (
    CHEAPEST,
    STACK_ENV,
    Follower,
    Phases,
    TaskRun,
    ensure_model,
    one_task,
    run_clients,
    start_stack,
)
from bench.resources import REDIS_ROOT, CpuMeter, cpu_roots, scratch
from bench.stats import goal, report, run_measured, summary
from bench.throughput_report import breakdown, overhead, reading_notes, render, utilization
from project.localstack import ALICE_KEY, ROOT, Stack


async def paired_tasks(
    http_url: str,
    ws_url: str,
    child: LoopChild,
    count: int,
    *,
    key: str | None = ALICE_KEY,
    timeout: float = 120.0,
) -> list[tuple[TaskRun, float]]:
    """`count` cheapest tasks one at a time, each right after one bare pipeline call
    in `child` (ms), so machine noise hits a task and its bare call alike."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    pairs = []
    async with httpx.AsyncClient(base_url=http_url, headers=headers, timeout=timeout) as http:
        follower = await Follower.open(ws_url, key)
        try:
            for _ in range(count):
                bare = await asyncio.to_thread(child.call, "go 1")
                run = await one_task(http, follower, CHEAPEST, timeout)
                pairs.append((run, float(bare["callMs"][0])))
        finally:
            await follower.close()
    return pairs


def measure(
    *,
    tasks: int = 1000,
    clients: int = 16,
    workers: int = 2,
    warmup: int = 32,
    baseline_calls: int = 100,
    parallel_calls: int = 50,
    bare_messages: int = 1000,
    sequential: int = 40,
    twenty_step_calls: int = 3,
    idle_tasks: int = 6,
    idle_gap: float = 2.0,
    redis_url: str | None = None,
    model_dir: Path | None = None,
    worker_env: Mapping[str, str] | None = None,
    overlap_startup: bool = False,
) -> dict[str, Any]:
    """Run baselines A and B, then ours, then the sequential overhead run.

    `overlap_startup` starts the stack while baseline A's processes load (faster,
    for smoke runs; the idle stack's polling then runs beside baselines A and B).

    Result keys: config, ours, baselineA, baselineAIdeal, baselineASideBySide,
    baselineB, ratios, overhead, goals, notes, phasesS, wallS. Absolute figures are
    in tasks/s and ms; `goals` holds {"target", "value", "met"} per goal.
    """
    bench_started = time.perf_counter()
    model_dir = model_dir or ROOT / "var" / "bench-models"
    ensure_model(model_dir)
    notes: list[str] = []
    with scratch("atelier-throughput-", redis_url) as (work, redis_url, embedded):
        phase = Phases()
        stack = Stack(redis_url, work / "stack", model_dir, {**STACK_ENV, **(worker_env or {})})
        children = [LoopChild(model_dir) for _ in range(workers if parallel_calls else 1)]

        def drive(count: int, concurrency: int, gap: float = 0.0) -> tuple[list[TaskRun], float]:
            return asyncio.run(
                run_clients(stack.http_url, stack.ws_url, tasks=count, clients=concurrency, gap=gap)
            )

        try:
            if overlap_startup:  # the stack starts while the loops load; it idles while they run
                start_stack(stack, workers)
                phase("stackStart")
            a = baseline_a(
                children,
                calls=baseline_calls,
                parallel_calls=parallel_calls,
                twenty_step_calls=twenty_step_calls,
            )
            phase("baselineA")
            # The same Dramatiq settings as our workers get (project/localstack.py, the Procfile).
            b = bare_dramatiq.run(
                messages=bare_messages,
                processes=workers,
                redis_url=redis_url,
                prefetch=int(stack.env.get("dramatiq_queue_prefetch", 0)),
                worker_timeout=int(stack.env.get("dramatiq_worker_timeout", 1000)),
                folder=work / "bare",
            )
            phase("baselineB")
            if not overlap_startup:
                start_stack(stack, workers)
                phase("stackStart")
            try:
                drive(warmup, clients)
                phase("warmup")
                meter = CpuMeter(cpu_roots(stack, redis_url))
                if REDIS_ROOT not in meter.roots:
                    notes.append("Redis's CPU is not on this machine: not measured")
                runs, wall = drive(tasks, clients)
                cpu = meter.per_task_ms(tasks)
                phase("ours")
                pairs = asyncio.run(
                    paired_tasks(stack.http_url, stack.ws_url, children[0], sequential)
                )
                phase("sequential")
                idle_runs: list[TaskRun] = []
                if idle_tasks:
                    idle_runs, _ = drive(idle_tasks, 1, idle_gap)
                    phase("idle")
            except BaseException:
                print(stack.logs(), file=sys.stderr)
                raise
            finally:
                stack.stop()
                phase("stop")
        finally:
            for child in children:  # baseline_a closed all but the first, unless it never ran
                child.close()
            stack.stop()
            stack.purge()  # a shared Redis keeps nothing of ours

    ok_runs = [run for run in runs if not run.error]
    failed = [run.error for run in runs + [run for run, _ in pairs] + idle_runs if run.error]
    ours_rate = len(ok_runs) / wall
    ideal = a["tasksPerS"] * workers
    side = a["sideBySide"]
    spent = overhead(pairs, idle_runs, idle_gap, a["twentyStepMs"]["p50"])
    busy = utilization(runs, wall, workers)
    ratio_b = round(ours_rate / b["tasksPerS"], 3)
    notes += reading_notes(clients)
    if failed:
        notes.append(f"{len(failed)} tasks failed, e.g. {failed[:3]}")
    return {
        "config": {
            "tasks": tasks,
            "clients": clients,
            "workers": workers,
            "task": CHEAPEST,
            "device": a["device"],
            "cpus": os.cpu_count(),
            "loadAverageAtEnd": os.getloadavg()[0],
            "redis": "embedded (private)" if embedded else redis_url,
            "workerEnv": dict(worker_env or {}),
            "overlapStartup": overlap_startup,
        },
        "ours": {
            "tasks": len(runs),
            "failed": len(runs) - len(ok_runs),
            "wallS": round(wall, 3),
            "tasksPerS": round(ours_rate, 2),
            "taskMs": summary([run.total_ms for run in ok_runs]),
            "eventsPerTask": round(statistics.mean(run.events for run in runs), 2),
            "breakdownMs": breakdown(ok_runs),
            **busy,
            "cpuMsPerTask": cpu,
            "workerCpuMsPerTaskBeyondBareCall": round(cpu["workers"] - a["cpuMsPerCall"], 2),
        },
        "baselineA": {
            key: a[key] for key in ("calls", "wallS", "tasksPerS", "callMs", "cpuMsPerCall")
        },
        "baselineAIdeal": {"workers": workers, "tasksPerS": round(ideal, 2)},
        "baselineASideBySide": side,
        "baselineB": b,
        "ratios": {
            "oursOverB": ratio_b,
            "oursOverA": round(ours_rate / a["tasksPerS"], 3),
            "oursOverAIdeal": round(ours_rate / ideal, 3),
            "oursOverASideBySide": round(ours_rate / side["tasksPerS"], 3) if side else None,
            "idealOverB": round(ideal / b["tasksPerS"], 3),
        },
        "overhead": spent,
        "goals": {
            "throughputOverBareDramatiq": goal(ratio_b, 0.3),
            "perTaskOverheadMsP50": goal(spent["overheadMsP50"], 5.0, at_least=False),
            # The cheapest task (one step) is mostly overhead: read it with bench.batching's.
            "workersInPipelineUnderBacklog": goal(busy.get("workerPipelineBusy", 0.0), 0.95),
        },
        "notes": notes,
        "phasesS": phase.seconds,
        "wallS": round(time.perf_counter() - bench_started, 1),
    }


QUICK = {
    "tasks": 60,
    "clients": 8,
    "warmup": 8,
    "baseline_calls": 20,
    "parallel_calls": 0,
    "bare_messages": 200,
    "sequential": 6,
    "twenty_step_calls": 1,
    "idle_tasks": 0,
    "overlap_startup": True,
}


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-calls", type=int, default=100)
    parser.add_argument("--bare-messages", type=int, default=1000)
    parser.add_argument("--sequential", type=int, default=40)
    parser.add_argument("--parallel-calls", type=int, default=50, help="0: no side-by-side A")
    parser.add_argument("--idle-tasks", type=int, default=6)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the stack (e.g. dramatiq_worker_timeout=100)",
    )
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (CI)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    # The options' dests are measure()'s keyword names; --quick and --json are run()'s.
    options = vars(parser.parse_args())
    quick, json_path = options.pop("quick"), options.pop("json")
    options["worker_env"] = dict(item.split("=", 1) for item in options["worker_env"])
    if quick:  # the smoke sizes; where and how to run still come from the arguments
        options = {key: options[key] for key in ("redis_url", "worker_env")}
    report(run(quick=quick, **options), json_path)


if __name__ == "__main__":
    main()
