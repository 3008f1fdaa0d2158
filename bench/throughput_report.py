"""What bench/throughput.py's runs mean, and how its result reads on the console.

bench/throughput.py measures (starts the stack and the baselines, drives the tasks);
this module only reads what it measured, so a change to the analysis or the table
never touches the workload:

    pipeline_ms(run)            the pipeline's own run time inside the worker, or None
    breakdown(runs)             where a task's time went: p50/p95/max of each part
    utilization(runs, wall, n)  how busy n workers were over `wall` seconds
    overhead(pairs, ...)        the result's "overhead" section, from the paired runs
    reading_notes(clients)      the result's fixed notes (how to read each figure)
    render(result)              the console table and lines of a finished result

Pure functions of TaskRuns and result dicts: nothing here starts a process or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bench.harness import TaskRun
from bench.stats import summary, table

# An assumption, not a measurement: Stable Diffusion 1.5, 512x512, 20 steps, fp16,
# diffusers on one H100 takes roughly 0.6-1.0 s (about 30-40 denoising it/s with
# classifier-free guidance, plus text encoding and VAE decode). No such model or
# GPU is used here; the figure only puts the overhead in proportion.
REFERENCE_SD15_H100_20_STEPS_MS = (600.0, 1000.0)


def _stamps(run: TaskRun) -> tuple[datetime | None, ...]:
    """createdAt, startedAt, finishedAt of the task's final record; None where the
    record has none (a task that failed before it ran)."""
    return tuple(
        datetime.fromisoformat(value) if (value := run.final.get(key)) else None
        for key in ("createdAt", "startedAt", "finishedAt")
    )


def _ms(span: timedelta) -> float:
    return span.total_seconds() * 1000


def _p50(values: Sequence[float]) -> float | None:
    # stats.summary's median and rounding, so these match the summaries beside them;
    # None rather than an error when every task failed.
    return summary(values)["p50"] if values else None


def pipeline_ms(run: TaskRun) -> float | None:
    """The pipeline's own run time inside the worker (TextToImage.run, progress
    callbacks included), from the result's metadata."""
    timings = ((run.final.get("result") or {}).get("metadata") or {}).get("timings") or {}
    return float(timings["totalMs"]) if "totalMs" in timings else None


def breakdown(runs: Sequence[TaskRun]) -> dict[str, dict[str, float]]:
    """Where a task's time went, from the client's clock and the record's timestamps
    (all on this machine's clock). p50 of each part; medians do not add up."""
    parts: dict[str, list[float]] = {
        name: []
        for name in (  # the order the parts happen in, which the console keeps
            "submitRoundTripMs",
            "createdToStartedMs",
            "startedToFinishedMs",
            "pipelineRunMs",
            "finishedToClientMs",
        )
    }
    for run in runs:
        created, started, finished = _stamps(run)
        parts["submitRoundTripMs"].append((run.accepted - run.submitted) * 1000)
        if created and started and finished and run.received_at:
            parts["createdToStartedMs"].append(_ms(started - created))
            parts["startedToFinishedMs"].append(_ms(finished - started))
            parts["finishedToClientMs"].append(_ms(run.received_at - finished))
        if (ms := pipeline_ms(run)) is not None:
            parts["pipelineRunMs"].append(ms)
    return {name: summary(values) for name, values in parts.items() if values}


def utilization(runs: Sequence[TaskRun], wall: float, workers: int) -> dict[str, float]:
    """How busy the workers were: the tasks' RUNNING time (startedAt..finishedAt) over
    workers x wall time, and the mean time a worker spent per task outside RUNNING
    (between one task's end and the next one's start: ack, fetch, Dramatiq's consumer
    backoff, the START script); and the share of the workers' time spent inside the
    pipeline call itself (its `totalMs`: what a GPU would be busy with). A task's
    outcome is written beside the next task's call (actors/worker/finisher.py), so
    RUNNING spans of one worker may overlap. Meaningful when the queue never ran dry."""
    if not runs or wall <= 0:
        return {}
    stamps = [_stamps(run) for run in runs]
    running = sum((end - start).total_seconds() for _, start, end in stamps if start and end)
    in_calls = sum(ms for run in runs if (ms := pipeline_ms(run)) is not None) / 1000
    return {
        "workerUtilization": round(running / (wall * workers), 3),
        "workerGapPerTaskMs": round((wall * workers - running) / len(runs) * 1000, 2),
        "workerPipelineBusy": round(in_calls / (wall * workers), 3),
    }


def overhead(
    pairs: Sequence[tuple[TaskRun, float]],
    idle_runs: Sequence[TaskRun],
    idle_gap: float,
    twenty_step_ms: float,
) -> dict[str, Any]:
    """The result's "overhead" section from the sequential (task, bare call ms) pairs,
    the tasks run after `idle_gap` s idle, and the measured 20-step call's p50."""
    ok = [(run, bare) for run, bare in pairs if not run.error]
    runs = [run for run, _ in ok]
    bare_calls = [bare for _, bare in ok]
    # Paired differences, not a difference of medians: noise that slowed a task
    # slowed its bare call too.
    overhead_p50 = _p50([run.total_ms - bare for run, bare in ok])
    outside_p50 = _p50([run.total_ms - ms for run in runs if (ms := pipeline_ms(run)) is not None])

    def share(ms: float) -> float | None:
        return None if overhead_p50 is None else round(overhead_p50 / ms * 100, 2)

    at_600, at_1000 = REFERENCE_SD15_H100_20_STEPS_MS
    return {
        "tasks": len(runs),
        "taskMs": summary([run.total_ms for run in runs]) if runs else None,
        "bareCallMs": summary(bare_calls) if bare_calls else None,
        "overheadMsP50": overhead_p50,
        "outsidePipelineMsP50": outside_p50,
        "breakdownMs": breakdown(runs),
        "afterIdle": _after_idle(idle_runs, idle_gap, _p50(bare_calls)),
        "tinyRandom20StepsMsP50": twenty_step_ms,
        "percentOfTinyRandom20Steps": share(twenty_step_ms),
        "percentOfReferenceSd15H100": {
            "assumption": "SD1.5 512x512 20 steps fp16 on an H100 takes 0.6-1.0 s",
            "at600Ms": share(at_600),
            "at1000Ms": share(at_1000),
        },
    }


def _after_idle(
    runs: Sequence[TaskRun], gap: float, bare_call: float | None
) -> dict[str, Any] | None:
    """Tasks submitted after the workers sat idle for `gap` seconds: what a client of a
    quiet system sees (Dramatiq's consumers back off up to dramatiq_worker_timeout
    between empty polls, so pickup after idle can be slower than back to back)."""
    ok = [run for run in runs if not run.error]
    if not ok:
        return None
    task_ms = summary([run.total_ms for run in ok])
    return {
        "tasks": len(ok),
        "idleS": gap,
        "taskMs": task_ms,
        # Not paired (idle tasks have no bare call of their own): against the
        # sequential run's bare-call p50.
        "overheadMsP50": None if bare_call is None else round(task_ms["p50"] - bare_call, 2),
        "breakdownMs": breakdown(ok),
    }


def reading_notes(clients: int) -> list[str]:
    """How to read the result's figures; they travel in the JSON so a result read
    months later still says what was measured."""
    return [
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


def _p50s(parts: Mapping[str, Mapping[str, float]]) -> str:
    return ", ".join(f"{name} {figures['p50']}" for name, figures in parts.items())


def render(result: Mapping[str, Any]) -> str:
    """The console form of a measure() result: rates against each baseline, then the
    overhead and where it went, then the goals."""
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
    spent, idle = result["overhead"], result["overhead"].get("afterIdle")
    bare = (spent["bareCallMs"] or {}).get("p50")
    reference = spent["percentOfReferenceSd15H100"]
    lines = [
        table(["", "tasks/s", "wall s", "ours / this"], rows),
        f"(if the job system cost nothing, ours / B would be {ratios['idealOverB']})",
        "",
        f"per-task overhead p50: {spent['overheadMsP50']} ms over the bare call "
        f"(paired; bare call p50 {bare} ms); outside the pipeline call: "
        f"{spent['outsidePipelineMsP50']} ms",
        f"  = {spent['percentOfTinyRandom20Steps']}% of a measured tiny-random 20-step "
        f"call ({spent['tinyRandom20StepsMsP50']} ms); {reference['at1000Ms']}-"
        f"{reference['at600Ms']}% of an ASSUMED 0.6-1.0 s SD1.5 20-step H100 call",
        "breakdown (p50, sequential): " + _p50s(spent["breakdownMs"]),
        "breakdown (p50, under load): " + _p50s(ours["breakdownMs"]),
        f"after {idle['idleS']} s idle: overhead p50 {idle['overheadMsP50']} ms; "
        + _p50s(idle["breakdownMs"])
        if idle
        else "after idle: not measured",
        f"workers busy {ours.get('workerUtilization')} of the time under load; "
        f"{ours.get('workerGapPerTaskMs')} ms per task between tasks; "
        f"inside the pipeline call {ours.get('workerPipelineBusy')} of the time",
        "CPU ms per task: "
        + ", ".join(f"{name} {ms}" for name, ms in ours["cpuMsPerTask"].items())
        + f" (a bare call: {a['cpuMsPerCall']})",
        "",
        table(
            ["goal", "target", "value", "met"],
            [[name, g["target"], g["value"], g["met"]] for name, g in result["goals"].items()],
        ),
    ]
    return "\n".join(lines)
