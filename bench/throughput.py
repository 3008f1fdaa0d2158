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
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import bare_dramatiq
from bench.baseline_loop import LoopChild, baseline_a
from bench.harness import (
    CHEAPEST,
    STACK_ENV,
    CpuMeter,
    Follower,
    Phases,
    TaskRun,
    ensure_model,
    one_task,
    pick_redis,
    redis_pid,
    run_clients,
    start_stack,
)
from bench.stats import goal, report, run_measured, summary, table
from project.localstack import ALICE_KEY, ROOT, Stack

# An assumption, not a measurement: Stable Diffusion 1.5, 512x512, 20 steps, fp16,
# diffusers on one H100 takes roughly 0.6-1.0 s (about 30-40 denoising it/s with
# classifier-free guidance, plus text encoding and VAE decode). No such model or
# GPU is used here; the figure only puts the overhead in proportion.
REFERENCE_SD15_H100_20_STEPS_MS = (600.0, 1000.0)


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


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def breakdown(runs: Sequence[TaskRun]) -> dict[str, dict[str, float]]:
    """Where a task's time went, from the client's clock and the record's timestamps
    (all on this machine's clock). p50 of each part; medians do not add up."""
    parts: dict[str, list[float]] = {
        "submitRoundTripMs": [],
        "createdToStartedMs": [],
        "startedToFinishedMs": [],
        "pipelineRunMs": [],
        "finishedToClientMs": [],
    }
    for run in runs:
        task = run.final
        created, started, finished = (
            _iso(task.get("createdAt")),
            _iso(task.get("startedAt")),
            _iso(task.get("finishedAt")),
        )
        parts["submitRoundTripMs"].append((run.accepted - run.submitted) * 1000)
        if created and started and finished and run.received_at:
            parts["createdToStartedMs"].append((started - created).total_seconds() * 1000)
            parts["startedToFinishedMs"].append((finished - started).total_seconds() * 1000)
            parts["finishedToClientMs"].append((run.received_at - finished).total_seconds() * 1000)
        pipeline_ms = _pipeline_ms(run)
        if pipeline_ms is not None:
            parts["pipelineRunMs"].append(pipeline_ms)
    return {name: summary(values) for name, values in parts.items() if values}


# -- the benchmark -----------------------------------------------------------------------


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
    baselineB, ratios, overhead, goals, notes, wallS. Absolute figures are in
    tasks/s and ms; `goals` holds {"target", "value", "met"} per goal.
    """
    bench_started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="atelier-throughput-"))
    model_dir = model_dir or ROOT / "var" / "bench-models"
    ensure_model(model_dir)
    redis_url, embedded = pick_redis(redis_url, work / "redis")
    notes: list[str] = []
    phase = Phases()
    stack = Stack(redis_url, work / "stack", model_dir, {**STACK_ENV, **(worker_env or {})})
    children = [LoopChild(model_dir) for _ in range(workers if parallel_calls else 1)]
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
            asyncio.run(run_clients(stack.http_url, stack.ws_url, tasks=warmup, clients=clients))
            phase("warmup")
            roots: dict[str, list[int]] = {
                "web": [p.popen.pid for p in stack.processes if p.name.startswith("web")],
                "workers": [p.popen.pid for p in stack.processes if p.name.startswith("worker")],
            }
            pid = redis_pid(redis_url)
            if pid is not None:
                roots["redis (whole server)"] = [pid]
            else:
                notes.append("Redis's CPU is not on this machine: not measured")
            meter = CpuMeter(roots)
            runs, wall = asyncio.run(
                run_clients(stack.http_url, stack.ws_url, tasks=tasks, clients=clients)
            )
            cpu = meter.per_task_ms(tasks)
            phase("ours")
            pairs = asyncio.run(paired_tasks(stack.http_url, stack.ws_url, children[0], sequential))
            phase("sequential")
            idle_runs: list[TaskRun] = []
            if idle_tasks:
                idle_runs, _ = asyncio.run(
                    run_clients(
                        stack.http_url, stack.ws_url, tasks=idle_tasks, clients=1, gap=idle_gap
                    )
                )
                phase("idle")
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.stop()
            phase("stop")
    finally:
        children[0].close()
        stack.stop()
        stack.purge()  # a shared Redis keeps nothing of ours
        if embedded:
            embedded.stop()
        shutil.rmtree(work, ignore_errors=True)

    sequential_runs = [run for run, _ in pairs]
    failed = [run.error for run in runs + sequential_runs + idle_runs if run.error]
    ours_rate = (len(runs) - len([r for r in runs if r.error])) / wall
    ideal = a["tasksPerS"] * workers
    side = a["sideBySide"]
    ok_pairs = [(run, bare) for run, bare in pairs if not run.error]
    ok_sequential = [run for run, _ in ok_pairs]
    bare_calls = [bare for _, bare in ok_pairs]
    bare_p50 = round(statistics.median(bare_calls), 2) if bare_calls else None
    overhead_p50 = _median([run.total_ms - bare for run, bare in ok_pairs])
    outside_p50 = _median(
        [run.total_ms - ms for run in ok_sequential if (ms := _pipeline_ms(run)) is not None]
    )
    twenty_ms = a["twentyStepMs"]["p50"]

    def share(ms: float) -> float | None:
        return None if overhead_p50 is None else round(overhead_p50 / ms * 100, 2)

    ratio_b = round(ours_rate / b["tasksPerS"], 3)
    worker_cpu = cpu["workers"]
    notes += [
        "ours: tasks/s over the wall time from the first submit to the last terminal event, "
        f"{clients} clients each with one task in flight (HTTP submit, then follow over its "
        "own websocket)",
        "baseline A: TextToImage.run in a loop in one process, same parameters, "
        "OMP_NUM_THREADS=1 as the workers; 'A x workers, ideal' is that rate times the "
        "worker count, 'A side by side' runs that many loops at once on this machine "
        "(what its cores really allow)",
        "ratios.idealOverB: what oursOverB would be if the job system cost nothing (A x "
        "workers over B): B's actor is a no-op, ours runs a real pipeline call",
        "overhead: one task at a time, each right after one bare call in baseline A's "
        "process (paired, so noise hits both alike); overheadMsP50 is the p50 of (client-"
        "observed submit-to-terminal time - that bare call). outsidePipelineMsP50 is the "
        "p50 of (client time - the pipeline's own run time inside the worker, from the "
        "result metadata): the cost outside TextToImage.run. The breakdown's parts are "
        "separate medians and do not add up",
        "percentOfReferenceSd15H100 uses an ASSUMED 0.6-1.0 s for SD1.5 512x512 20 steps "
        "on an H100 (not measured here); percentOfTinyRandom20Steps uses the measured "
        "20-step tiny-random call at 64x64 on this machine's device",
        "cpuMsPerTask: CPU time of each process tree over the measured run / tasks; "
        "'redis (whole server)' includes anything else using that Redis",
    ]
    if failed:
        notes.append(f"{len(failed)} tasks failed, e.g. {failed[:3]}")
    result = {
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
            "failed": len([r for r in runs if r.error]),
            "wallS": round(wall, 3),
            "tasksPerS": round(ours_rate, 2),
            "taskMs": summary([r.total_ms for r in runs if not r.error]),
            "eventsPerTask": round(statistics.mean(r.events for r in runs), 2),
            "breakdownMs": breakdown([r for r in runs if not r.error]),
            **_utilization(runs, wall, workers),
            "cpuMsPerTask": cpu,
            "workerCpuMsPerTaskBeyondBareCall": round(worker_cpu - a["cpuMsPerCall"], 2),
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
        "overhead": {
            "tasks": len(ok_sequential),
            "taskMs": summary([r.total_ms for r in ok_sequential]) if ok_sequential else None,
            "bareCallMs": summary(bare_calls) if bare_calls else None,
            "overheadMsP50": overhead_p50,
            "outsidePipelineMsP50": outside_p50,
            "breakdownMs": breakdown(ok_sequential),
            "afterIdle": _after_idle(idle_runs, idle_gap, bare_p50),
            "tinyRandom20StepsMsP50": twenty_ms,
            "percentOfTinyRandom20Steps": share(twenty_ms),
            "percentOfReferenceSd15H100": {
                "assumption": "SD1.5 512x512 20 steps fp16 on an H100 takes 0.6-1.0 s",
                "at600Ms": share(REFERENCE_SD15_H100_20_STEPS_MS[0]),
                "at1000Ms": share(REFERENCE_SD15_H100_20_STEPS_MS[1]),
            },
        },
        "goals": {
            "throughputOverBareDramatiq": goal(ratio_b, 0.3),
            "perTaskOverheadMsP50": goal(overhead_p50, 5.0, at_least=False),
        },
        "notes": notes,
        "phasesS": phase.seconds,
        "wallS": round(time.perf_counter() - bench_started, 1),
    }
    return result


def _utilization(runs: Sequence[TaskRun], wall: float, workers: int) -> dict[str, Any]:
    """How busy the workers were: the tasks' RUNNING time (startedAt..finishedAt) over
    workers x wall time, and the mean time a worker spent per task outside RUNNING
    (between one task's end and the next one's start: ack, fetch, Dramatiq's consumer
    backoff, the START script). Meaningful when the queue never ran dry."""
    running = 0.0
    for run in runs:
        started, finished = _iso(run.final.get("startedAt")), _iso(run.final.get("finishedAt"))
        if started and finished:
            running += (finished - started).total_seconds()
    if not runs or wall <= 0:
        return {}
    return {
        "workerUtilization": round(running / (wall * workers), 3),
        "workerGapPerTaskMs": round((wall * workers - running) / len(runs) * 1000, 2),
    }


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _pipeline_ms(run: TaskRun) -> float | None:
    """The pipeline's own run time inside the worker (TextToImage.run, progress
    callbacks included), from the result's metadata."""
    timings = ((run.final.get("result") or {}).get("metadata") or {}).get("timings") or {}
    return float(timings["totalMs"]) if "totalMs" in timings else None


def _after_idle(
    runs: Sequence[TaskRun], gap: float, bare_call: float | None
) -> dict[str, Any] | None:
    """Tasks submitted after the workers sat idle for `gap` seconds: what a client of a
    quiet system sees (Dramatiq's consumers back off up to dramatiq_worker_timeout
    between empty polls, so pickup after idle can be slower than back to back)."""
    ok = [run for run in runs if not run.error]
    if not ok:
        return None
    return {
        "tasks": len(ok),
        "idleS": gap,
        "taskMs": summary([run.total_ms for run in ok]),
        "overheadMsP50": (
            None
            if bare_call is None
            else round(statistics.median(run.total_ms for run in ok) - bare_call, 2)
        ),
        "breakdownMs": breakdown(ok),
    }


def render(result: Mapping[str, Any]) -> str:
    ours, a, b = result["ours"], result["baselineA"], result["baselineB"]
    side, ideal, ratios = result["baselineASideBySide"], result["baselineAIdeal"], result["ratios"]
    rows: list[list[Any]] = [
        ["ours (GraphQL + Dramatiq + events)", ours["tasksPerS"], ours["wallS"], 1.0],
        ["A: pipeline loop, 1 process", a["tasksPerS"], a["wallS"], ratios["oursOverA"]],
        [f"A x {ideal['workers']}, ideal", ideal["tasksPerS"], None, ratios["oursOverAIdeal"]],
    ]
    if side:
        rows.append(
            [
                f"A, {side['processes']} loops side by side",
                side["tasksPerS"],
                side["wallS"],
                ratios["oursOverASideBySide"],
            ]
        )
    rows.append(["B: bare Dramatiq no-op", b["tasksPerS"], b["wallS"], ratios["oursOverB"]])
    overhead = result["overhead"]
    bare = (overhead["bareCallMs"] or {}).get("p50")
    reference = overhead["percentOfReferenceSd15H100"]
    lines = [
        table(["", "tasks/s", "wall s", "ours / this"], rows),
        f"(if the job system cost nothing, ours / B would be {ratios['idealOverB']})",
        "",
        f"per-task overhead p50: {overhead['overheadMsP50']} ms over the bare call "
        f"(paired; bare call p50 {bare} ms); outside the pipeline call: "
        f"{overhead['outsidePipelineMsP50']} ms",
        f"  = {overhead['percentOfTinyRandom20Steps']}% of a measured tiny-random 20-step "
        f"call ({overhead['tinyRandom20StepsMsP50']} ms); {reference['at1000Ms']}-"
        f"{reference['at600Ms']}% of an ASSUMED 0.6-1.0 s SD1.5 20-step H100 call",
        "breakdown (p50, sequential): "
        + ", ".join(f"{k} {v['p50']}" for k, v in overhead["breakdownMs"].items()),
        "breakdown (p50, under load): "
        + ", ".join(f"{k} {v['p50']}" for k, v in ours["breakdownMs"].items()),
        _idle_line(overhead.get("afterIdle")),
        f"workers busy {ours.get('workerUtilization')} of the time under load; "
        f"{ours.get('workerGapPerTaskMs')} ms per task between tasks",
        "CPU ms per task: "
        + ", ".join(f"{k} {v}" for k, v in ours["cpuMsPerTask"].items())
        + f" (a bare call: {a['cpuMsPerCall']})",
        "",
        table(
            ["goal", "target", "value", "met"],
            [[name, g["target"], g["value"], g["met"]] for name, g in result["goals"].items()],
        ),
    ]
    return "\n".join(lines)


def _idle_line(idle: Mapping[str, Any] | None) -> str:
    if not idle:
        return "after idle: not measured"
    return f"after {idle['idleS']} s idle: overhead p50 {idle['overheadMsP50']} ms; " + ", ".join(
        f"{k} {v['p50']}" for k, v in idle["breakdownMs"].items()
    )


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
    args = parser.parse_args()
    options: dict[str, Any] = {
        "tasks": args.tasks,
        "clients": args.clients,
        "workers": args.workers,
        "baseline_calls": args.baseline_calls,
        "bare_messages": args.bare_messages,
        "sequential": args.sequential,
        "parallel_calls": args.parallel_calls,
        "idle_tasks": args.idle_tasks,
        "redis_url": args.redis_url,
        "worker_env": dict(item.split("=", 1) for item in args.worker_env),
    }
    if args.quick:  # the smoke sizes; where and how to run still come from the arguments
        options = {key: options[key] for key in ("redis_url", "worker_env")}
    report(run(quick=args.quick, **options), args.json)


if __name__ == "__main__":
    main()
