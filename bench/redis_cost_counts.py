"""What Redis's accounting says per task, for bench/redis_cost.py: one window of INFO
commandstats, or one MONITOR segment, turned into the figures of the result's
"background", "batches" and "monitored" entries (the JSON keys are made here).

Contract: pure arithmetic on what bench/redis_monitor.py read and on the benchmark's
TaskRuns; nothing here starts a process or talks to the stack. The one exception is
`idle`, which only reads INFO around a sleep.

    Window.between(before, after)     commands, usec, Redis CPU and connections between
                                      two Snapshots (the benchmark's own commands left out)
    Background, idle(client, pid, s)  Redis with no task: commands/s, CPU/s, by command,
                                      and the commands one empty Dramatiq poll costs
    batch_figures(window, runs, ...)  one "batches" entry: INFO commandstats per task
    monitored_figures(seen, ...)      one "monitored" entry: MONITOR's counts per task
    per_unit(counts, n), events(runs)

Counting. INFO commandstats deltas count every command Redis executed, and since
Redis counts the commands a Lua script runs (redis.call) under their own names
too, an EVALSHA and the HSETs inside it are all counted. So each batch reports:
  commandstatsTotal   every counted call: top-level commands + commands run inside
                      scripts (Redis's own accounting; what its CPU goes to)
  ...LessPolls        the same without Dramatiq's polls of empty queues (a worker's
                      consumers poll every queue every 50-100 ms; counted by LPOP)
and, from a second, smaller batch per step count under MONITOR (which tags script
commands "lua"; MONITOR slows Redis, so CPU figures come from the first batches):
  topLevel            commands as clients send them, EVALSHA counted once
  inScripts           commands run inside scripts
broken down by script (store:progress, dramatiq:fetch, ...), command and sender
(web, worker: a connection's process found through its socket in /proc).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from bench.harness import TaskRun
from bench.redis_monitor import Snapshot, commandstats_delta


def per_unit(counts: Mapping[str, float], units: float, digits: int = 2) -> dict[str, float]:
    """Each count divided by `units` (tasks, seconds), largest first."""
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return {name: round(count / units, digits) for name, count in ordered}


def events(runs: Iterable[TaskRun]) -> float:
    """Changes published per task: the final sequence number (each change bumps it)."""
    sequences = [int(run.final["sequence"]) for run in runs if run.final.get("sequence")]
    return round(sum(sequences) / len(sequences), 2) if sequences else 0.0


@dataclass(frozen=True)
class Window:
    """What Redis did between two Snapshots."""

    calls: dict[str, int]
    usec: dict[str, int]
    seconds: float
    cpu: float  # Redis CPU seconds
    connections: int  # connections opened

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> Window:
        delta = commandstats_delta(after.commands, before.commands)
        return cls(
            calls={name: calls for name, (calls, _) in delta.items()},
            usec={name: usec for name, (_, usec) in delta.items()},
            seconds=after.at - before.at,
            cpu=after.cpu - before.cpu,
            connections=after.connections - before.connections,
        )


@dataclass(frozen=True)
class Background:
    """What Redis does with no task running (measured over an idle window)."""

    seconds: float
    commands_per_s: float
    cpu_per_s: float  # Redis CPU seconds per second
    commands_per_poll: float  # an empty Dramatiq fetch: EVALSHA + its LPOP and ZADD
    by_command_per_s: dict[str, float]

    @classmethod
    def of(cls, idle: Window) -> Background:
        calls = idle.calls
        # With prefetch=1 every Dramatiq fetch runs exactly one LPOP, and nothing else of
        # ours uses LPOP: idle LPOPs count the polls of empty queues.
        polls = calls.get("lpop", 0)
        per_poll = (
            (polls + calls.get("evalsha", 0) + calls.get("zadd", 0)) / polls if polls else 3.0
        )
        return cls(
            seconds=idle.seconds,
            commands_per_s=sum(calls.values()) / idle.seconds,
            cpu_per_s=idle.cpu / idle.seconds,
            commands_per_poll=per_poll,
            by_command_per_s=per_unit(calls, idle.seconds),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "commandsPerS": round(self.commands_per_s, 1),
            "redisCpuMsPerS": round(self.cpu_per_s * 1000, 2),
            "dramatiqPollsPerS": self.by_command_per_s.get("lpop", 0.0),
            "commandsPerPoll": round(self.commands_per_poll, 2),
            "byCommandPerS": self.by_command_per_s,
        }


def idle(client: redis.Redis, redis_pid: int, seconds: float) -> Background:
    before = Snapshot(client, redis_pid)
    time.sleep(seconds)
    return Background.of(Window.between(before, Snapshot(client, redis_pid)))


def batch_figures(
    window: Window, runs: list[TaskRun], *, steps: int, tasks: int, background: Background
) -> dict[str, Any]:
    """Per task by INFO commandstats, with Redis's CPU. Polls of empty queues (LPOPs
    beyond one per task) are also reported apart."""
    total = sum(window.calls.values())
    polls = max(0, window.calls.get("lpop", 0) - tasks)
    cpu, seconds = window.cpu, window.seconds
    failed = [run.error for run in runs if run.error]
    result: dict[str, Any] = {
        "steps": steps,
        "tasks": tasks,
        "failed": len(failed),
        "seconds": round(seconds, 2),
        "eventsPerTask": events(runs),
        "eventsReceivedPerTask": round(sum(run.events for run in runs) / tasks, 2),
        "commandstatsTotalPerTask": round(total / tasks, 2),
        "pollsPerTask": round(polls / tasks, 2),
        "commandstatsTotalPerTaskLessPolls": round(
            (total - polls * background.commands_per_poll) / tasks, 2
        ),
        # Approximate: a busy consumer does not poll, so this subtracts too much.
        "commandstatsTotalPerTaskLessBackground": round(
            (total - background.commands_per_s * seconds) / tasks, 2
        ),
        "commandstatsByCommandPerTask": per_unit(window.calls, tasks),
        "commandUsecPerTask": round(sum(window.usec.values()) / tasks, 1),
        "commandUsecByCommandPerTask": per_unit(window.usec, tasks, digits=1),
        "redisCpuMsPerTask": round(cpu / tasks * 1000, 3),
        "redisCpuMsPerTaskLessIdle": round(
            (cpu - background.cpu_per_s * seconds) / tasks * 1000, 3
        ),
        "connectionsOpenedPerTask": round(window.connections / tasks, 3),
    }
    if failed:
        result["errors"] = failed[:3]
    return result


def _sender(source: str, ports: Mapping[int, str]) -> str:
    """MONITOR's "host:port" source -> the role holding that local port."""
    port = source.rsplit(":", 1)[-1]
    return ports.get(int(port), "other") if port.isdigit() else "other"


def monitored_figures(
    seen: Mapping[tuple[str, str], int],
    scripts: Mapping[str, Counter[str]],
    ports: Mapping[int, str],
    runs: list[TaskRun],
    *,
    steps: int,
    tasks: int,
) -> dict[str, Any]:
    """Per task from one MONITOR segment (Monitor.counts, Monitor.scripts): commands as
    sent (top level) and run inside scripts, by script, by command and by sender
    (`ports`: port_roles). Empty-queue polls (fetches beyond one per task) are counted
    apart."""
    by_sender: Counter[str] = Counter()
    top_by_command: Counter[str] = Counter()
    inner_by_command: Counter[str] = Counter()
    for (source, command), count in seen.items():
        if source == "lua":
            inner_by_command[command] += count
        else:
            top_by_command[command] += count
            by_sender[_sender(source, ports)] += count
    top, inner = top_by_command.total(), inner_by_command.total()
    fetches = scripts["calls"]["dramatiq:fetch"]
    polls = max(0, fetches - tasks)
    per_poll_inner = scripts["inner"]["dramatiq:fetch"] / fetches if fetches else 0.0
    return {
        "steps": steps,
        "tasks": tasks,
        "eventsPerTask": events(runs),
        "pollsPerTask": round(polls / tasks, 2),
        "topLevelPerTask": round(top / tasks, 2),
        "inScriptsPerTask": round(inner / tasks, 2),
        "topLevelPerTaskLessPolls": round((top - polls) / tasks, 2),
        "inScriptsPerTaskLessPolls": round((inner - polls * per_poll_inner) / tasks, 2),
        "scriptsPerTask": {
            script: {
                "calls": round(calls / tasks, 2),
                "innerCommands": round(scripts["inner"][script] / tasks, 2),
            }
            for script, calls in scripts["calls"].most_common()
        },
        "topLevelBySenderPerTask": per_unit(by_sender, tasks),
        "topLevelByCommandPerTask": per_unit(top_by_command, tasks),
        "inScriptsByCommandPerTask": per_unit(inner_by_command, tasks),
    }
