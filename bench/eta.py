"""How close `estimatedStartAt` comes to when tasks really start.

Starts its own daphne and two Dramatiq workers (project/localstack.py) on the local
Redis (or an embedded one), runs a few tasks so that run times are measured, then
queues `tasks` text-to-image tasks of mixed steps and sizes (tiny-random: 2, 4 or 8
steps at 64 or 128 px) in one submitTasks call, reads each one's estimatedStartAt at
once, and compares it with its startedAt once all have run. The baseline is the naive
estimate a client could make without the server's help: position × the mean task time
measured in the warm-up ÷ workers.

Result (bench/stats.py: run_measured, report): tasks, workers, absErrorSeconds and
naiveAbsErrorSeconds ({p50, p90, max}), relative (|error| ÷ actual wait, p50 and p90),
goals, quick, table. `--quick`: 20 tasks (QUICK).

    python -m bench.eta [--tasks 100] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import STACK_ENV, TERMINAL, ensure_model, start_stack
from bench.resources import scratch
from bench.stats import goal, report, run_measured, summary, table
from project.localclient import Api
from project.localstack import Stack

QUICK = {"tasks": 20}
WORKERS = 2
SHAPES = list(itertools.product((2, 4, 8), (64, 128)))  # (steps, side)
BATCH = """
mutation B($inputs: [SubmitTaskInput!]!) {
  submitTasks(inputs: $inputs) { id estimatedStartAt }
}"""
DONE = "query D($id: ID!) { task(id: $id) { status createdAt startedAt finishedAt } }"


def generation(steps: int, side: int) -> dict[str, Any]:
    return {
        "imageGeneration": {
            "prompt": "x",
            "steps": steps,
            "width": side,
            "height": side,
            "refinePrompt": False,
        }
    }


def finished(api: Api, task_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.data(DONE, id=task_id)["task"]
        if task["status"] in TERMINAL:
            assert task["status"] == "SUCCEEDED", task
            return task
        if time.monotonic() > deadline:
            raise TimeoutError(task_id)
        time.sleep(0.2)


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def measure(tasks: int = 100) -> dict[str, Any]:
    with scratch("atelier-eta-", None) as (work, redis_url, _):
        ensure_model(work / "models")
        stack = Stack(redis_url, work / "stack", work / "models", dict(STACK_ENV))
        with stack.held():
            start_stack(stack, WORKERS)
            api = Api(stack.http_url, stack.ws_url)
            # Warm-up: each shape twice, one after another, so every run is measured warm.
            warm_runs = []
            for steps, side in SHAPES * 2:
                ran = finished(api, api.submit(generation(steps, side))["id"])
                warm_runs.append(seconds(ran["startedAt"], ran["finishedAt"]))
            mean_task = sum(warm_runs) / len(warm_runs)

            shapes = itertools.islice(itertools.cycle(SHAPES), tasks)
            inputs = [generation(steps, side) for steps, side in shapes]
            submitted = api.data(BATCH, inputs=inputs)["submitTasks"]
            runs = [finished(api, task["id"]) for task in submitted]

    errors, signed, naive, relative = [], [], [], []
    for position, (task, run) in enumerate(zip(submitted, runs, strict=True), start=1):
        actual_wait = seconds(run["createdAt"], run["startedAt"])
        if task["estimatedStartAt"] is None:
            raise RuntimeError("a task had no estimate although run times were measured")
        early = seconds(run["startedAt"], task["estimatedStartAt"])  # < 0: started later
        error = abs(early)
        errors.append(error)
        signed.append(early)
        # Positions 1..workers start at once; then one every mean task ÷ workers.
        naive.append(abs(max(0, position - WORKERS) * mean_task / WORKERS - actual_wait))
        if actual_wait > 1.0:
            relative.append(error / actual_wait)
    ours, baseline = summary(errors, (90,)), summary(naive, (90,))
    return {
        "tasks": tasks,
        "workers": WORKERS,
        "meanTaskSeconds": round(mean_task, 3),
        "absErrorSeconds": ours,
        # The median of estimate - actual start: below zero, tasks start later than said.
        "biasSeconds": round(statistics.median(signed), 3),
        "naiveAbsErrorSeconds": baseline,
        "relativeError": summary(relative, (90,)) if relative else None,
        "goals": {
            "estimate p90 |error| / naive p90 |error| <= 1": goal(
                round(ours["p90"] / max(baseline["p90"], 1e-9), 3), 1.0, at_least=False
            ),
        },
    }


def render(result: Mapping[str, Any]) -> str:
    rows = [
        ["estimatedStartAt", *result["absErrorSeconds"].values()],
        ["naive: position x mean / workers", *result["naiveAbsErrorSeconds"].values()],
    ]
    relative = result["relativeError"]
    text = table([f"|estimate - start| s ({result['tasks']} tasks)", "p50", "p90", "max"], rows)
    if relative:
        text += f"\nrelative to the wait: p50 {relative['p50']:.3f}, p90 {relative['p90']:.3f}"
    return text + (
        f"\nmedian bias (estimate - start) {result['biasSeconds']} s; "
        f"mean task {result['meanTaskSeconds']} s, {result['workers']} workers"
    )


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="20 tasks, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    report(run(quick=True) if args.quick else run(tasks=args.tasks), args.json)


if __name__ == "__main__":
    main()
