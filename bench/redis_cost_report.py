"""The summary and console rendering of bench/redis_cost.py's result.

Contract: pure functions of the result's own entries, nothing measured here.

    summarize(batches, monitored, ops)  the result's "perTask", "perEvent", "opsPerS" and
                                        "ceiling" entries, in that order
    NOTES                               the result's "notes": how to read its figures
    render(result)                      the console table of a finished result

Per task is the first batch's (the first step count, 1 by default). Per event =
(per task at the last step count - per task at the first) / (events per task at the
last - events at the first), events counted as the task's final `sequence` (every
change bumps it and is published once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import table

# One list for the summary's figures and the console's columns, so they cannot drift apart.
COUNTED = (
    ("cmds/task", "commandstatsTotalPerTask"),
    ("less polls", "commandstatsTotalPerTaskLessPolls"),
    ("less bg", "commandstatsTotalPerTaskLessBackground"),
    ("redis CPU ms", "redisCpuMsPerTask"),
    ("CPU less idle", "redisCpuMsPerTaskLessIdle"),
)
# MONITOR's figures. The console shows only the LessPolls ones: polls of empty queues
# depend on how long a batch ran, not on what its tasks do.
SPLIT = (
    "topLevelPerTask",
    "topLevelPerTaskLessPolls",
    "inScriptsPerTask",
    "inScriptsPerTaskLessPolls",
)
SPLIT_COLUMNS = (
    ("top-level", "topLevelPerTaskLessPolls"),
    ("in scripts", "inScriptsPerTaskLessPolls"),
)
# What the ceilings divide Redis's throughput by: without the idle workers' polls,
# which a loaded system does not make.
BASIS = "commandstatsTotalPerTaskLessPolls"

NOTES = (
    "Redis counts the commands a Lua script runs in INFO commandstats under their own "
    "names as well as the EVALSHA: commandstatsTotal includes both. The split into "
    "topLevel (as clients send them, an EVALSHA counted once) and inScripts comes "
    "from separate batches under MONITOR (which tags script commands 'lua'); "
    "MONITOR slows Redis, so CPU figures come only from the unmonitored batches",
    "background: with no task, Dramatiq's consumers (one per queue and one per delay "
    "queue, in every worker) poll an empty queue with a fetch script every 50-100 ms "
    "(dramatiq_worker_timeout=100). 'LessPolls' removes the fetches beyond one per "
    "task (counted by LPOP, which only a fetch runs) with the commands each runs "
    "(measured while idle); 'LessBackground' subtracts the idle command rate times "
    "the batch's duration instead (approximate: a busy consumer does not poll); "
    "'LessIdle' does that for Redis CPU",
    "ceilings: Redis ops/s from SET/GET/INCR (redis-benchmark, 50 connections) "
    "divided by commands per task; our commands are costlier than SET/GET (scripts, "
    "hashes, PNG payloads, pub/sub), so the CPU-based ceiling (1000 / Redis CPU ms "
    "per task, Redis being single-threaded) is the more realistic one",
    "the benchmark's own INFO, ECHO and MONITOR are left out of every count",
)


def _difference(low: Mapping[str, Any], high: Mapping[str, Any], key: str) -> float | None:
    events = high["eventsPerTask"] - low["eventsPerTask"]
    if key not in low or key not in high or events <= 0:
        return None
    return round((high[key] - low[key]) / events, 2)


def _ceiling(rate: float | None, per: float | None) -> float | None:
    return round(rate / per, 1) if rate and per and per > 0 else None


def summarize(
    batches: Sequence[Mapping[str, Any]],
    monitored: Sequence[Mapping[str, Any]],
    ops: Mapping[str, Any],
) -> dict[str, Any]:
    """Per task at the first step count, per event from the first and last, and the
    tasks/s and events/s that Redis's throughput and CPU allow at those costs."""
    low, high = batches[0], batches[-1]
    per_task: dict[str, Any] = {"steps": low["steps"], "eventsPerTask": low["eventsPerTask"]}
    per_task.update({key: low[key] for _, key in COUNTED})
    per_event = {key: _difference(low, high, key) for _, key in COUNTED}
    if monitored:
        per_task.update({key: monitored[0][key] for key in SPLIT})
        per_event.update({key: _difference(monitored[0], monitored[-1], key) for key in SPLIT})
    pipelined = ops["pipelined16"]["meanOpsPerS"]
    plain = ops["notPipelined"]["meanOpsPerS"] if ops.get("notPipelined") else None
    task_ops, event_ops = per_task[BASIS], per_event[BASIS]
    cpu, cpu_less_idle = "redisCpuMsPerTask", "redisCpuMsPerTaskLessIdle"
    return {
        "perTask": per_task,
        "perEvent": per_event,
        "opsPerS": ops,
        "ceiling": {
            "basis": f"{BASIS} per task (at {low['steps']} step) and per event; Redis "
            "ops/s from redis-benchmark SET/GET/INCR; Redis CPU ms per task and per event "
            "(one core)",
            "tasksPerS_pipelined16": _ceiling(pipelined, task_ops),
            "tasksPerS_notPipelined": _ceiling(plain, task_ops),
            "eventsPerS_pipelined16": _ceiling(pipelined, event_ops),
            "eventsPerS_notPipelined": _ceiling(plain, event_ops),
            "tasksPerS_fromRedisCpu": _ceiling(1000, per_task[cpu]),
            "tasksPerS_fromRedisCpuLessIdle": _ceiling(1000, per_task[cpu_less_idle]),
            "eventsPerS_fromRedisCpu": _ceiling(1000, per_event[cpu]),
            "eventsPerS_fromRedisCpuLessIdle": _ceiling(1000, per_event[cpu_less_idle]),
        },
    }


def render(result: Mapping[str, Any]) -> str:
    columns = (*COUNTED, *SPLIT_COLUMNS)
    monitored = result["monitored"] or [{} for _ in result["batches"]]
    rows: list[list[Any]] = [
        [
            batch["steps"],
            batch["eventsPerTask"],
            *(batch.get(key) for _, key in COUNTED),
            *(seen.get(key) for _, key in SPLIT_COLUMNS),
        ]
        for batch, seen in zip(result["batches"], monitored, strict=True)
    ]
    per_event = result["perEvent"]
    rows.append(["per event", 1.0, *(per_event.get(key) for _, key in columns)])
    ceiling, ops, background = result["ceiling"], result["opsPerS"], result["background"]
    lines = [
        table(["steps", "events", *(name for name, _ in columns)], rows),
        "(top-level and in scripts: less polls, from the batches under MONITOR)",
        "",
        f"background while idle: {background['commandsPerS']} commands/s, "
        f"{background['dramatiqPollsPerS']} Dramatiq polls/s, "
        f"Redis CPU {background['redisCpuMsPerS']} ms/s",
        f"Redis ops/s ({ops['tool']}): pipelined16 {ops['pipelined16']['meanOpsPerS']:,}, "
        f"not pipelined {(ops.get('notPipelined') or {}).get('meanOpsPerS')}",
        f"ceiling tasks/s: {ceiling['tasksPerS_pipelined16']} (pipelined ops), "
        f"{ceiling['tasksPerS_notPipelined']} (unpipelined ops), "
        f"{ceiling['tasksPerS_fromRedisCpu']}-{ceiling['tasksPerS_fromRedisCpuLessIdle']} "
        "(Redis CPU, with-without idle)",
        f"ceiling events/s: {ceiling['eventsPerS_pipelined16']} (pipelined ops), "
        f"{ceiling['eventsPerS_notPipelined']} (unpipelined ops), "
        f"{ceiling['eventsPerS_fromRedisCpu']}-{ceiling['eventsPerS_fromRedisCpuLessIdle']} "
        "(Redis CPU)",
    ]
    low = (result["monitored"] or [{}])[0]
    if "scriptsPerTask" in low:
        lines += [
            "",
            table(
                [f"script ({low['steps']} step)", "calls/task", "commands inside/task"],
                [[k, v["calls"], v["innerCommands"]] for k, v in low["scriptsPerTask"].items()],
            ),
            "",
            f"top-level per task by sender: {low['topLevelBySenderPerTask']}",
            f"top-level per task by command: {low['topLevelByCommandPerTask']}",
        ]
    return "\n".join(lines)
