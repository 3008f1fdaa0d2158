"""Small helpers shared by the benchmarks: percentiles, process stats from /proc, goals, tables.

    percentile(values, q)       nearest-rank percentile (q in 0..100) of a non-empty list
    summary(values, ...)        {"p50", "p95", "max"} of a non-empty list, rounded to 0.01
                                (p50 is the median; more percentiles and a unit scale on demand)
    rss_mb(pid)                 resident memory of one process, in MiB (VmRSS)
    memory_mb(pid, name)        a /proc/<pid>/status memory line (VmRSS, VmHWM), in MiB
    cpu_seconds(pid)            user + system CPU time one process has used so far
    live_cpu_seconds(pid)       the same, raising OSError once the process is gone
    run_queue_seconds(pid)      time its main thread waited for a CPU while runnable
    machine_busy_seconds()      CPU seconds the whole machine was busy, per CPU
    Sampler(counters)           samples cumulative counters in a thread: % of a CPU, increase
    tree(pid)                   pid and all its live descendants (daphne and Dramatiq fork)
    tree_cpu_seconds(pid)       cpu_seconds summed over tree(pid)
    worker_pid(main_pid)        the worker process a Dramatiq main process forked
    goal(value, target, ...)    {"target", "value", "met"} for a result's `goals`
    table(headers, rows)        a plain-text table for the console

Linux only (/proc); no psutil needed. Everything here is pure and cheap, so the
benchmarks can call it while they measure.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the value at rank round(q% of n-1) in sorted order."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(
    values: Sequence[float], percentiles: Sequence[int] = (95,), *, scale: float = 1
) -> dict[str, float]:
    """p50 (the median), p<q> for each of `percentiles` and max, each times `scale`
    (1000: seconds to milliseconds), rounded to two decimals. The one summary every
    benchmark reports."""
    figures = {
        "p50": statistics.median(values),
        **{f"p{q}": percentile(values, q) for q in percentiles},
        "max": max(values),
    }
    return {name: round(value * scale, 2) for name, value in figures.items()}


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of one process, in MiB."""
    return memory_mb(pid, "VmRSS")


def memory_mb(pid: int, name: str) -> float:
    """A /proc/<pid>/status memory line (VmRSS, VmHWM) in MiB."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {name} for {pid}")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: field n of proc(5) is at index n - 3.
    The command name before it is in parentheses and may hold spaces."""
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far (0.0 once it is gone)."""
    try:
        return live_cpu_seconds(pid)
    except OSError:
        return 0.0


def live_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in seconds; OSError
    once it is gone (a Sampler then leaves it out of that sample)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int) -> float:
    """Seconds the process's main thread (e.g. a web node's event loop) waited for a CPU
    while runnable: how much other processes held it back."""
    return int((PROC / str(pid) / "schedstat").read_text().split()[1]) / 1e9


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy, divided by its CPU count."""
    values = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK") / (os.cpu_count() or 1)


def children(pid: int) -> list[int]:
    """Direct live children of `pid` (every thread's list, so none is missed)."""
    found: set[int] = set()
    try:
        threads = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return []
    for thread in threads:
        try:
            found.update(int(child) for child in (thread / "children").read_text().split())
        except OSError:
            continue
    return sorted(found)


def tree(pid: int) -> list[int]:
    """`pid` and all its live descendants."""
    pids, frontier = [pid], [pid]
    while frontier:
        kids = [kid for parent in frontier for kid in children(parent)]
        pids.extend(kids)
        frontier = kids
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants. A child that exited is no longer
    counted, so take deltas over processes that live through the measurement."""
    return sum(cpu_seconds(each) for each in tree(pid))


class Sampler:
    """Samples cumulative counters (CPU seconds) every `every` seconds, in a thread."""

    def __init__(self, counters: Mapping[str, Callable[[], float]], every: float = 0.25) -> None:
        self.counters = dict(counters)
        self.every = every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        values = {}
        for name, read in self.counters.items():
            try:
                values[name] = read()
            except (OSError, IndexError, ValueError):
                continue  # exited
        self.samples.append((time.time(), values))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)
        self._sample()

    def percent(self, name: str, start: float, end: float) -> float | None:
        """% of one CPU `name` used between the samples nearest `start` and `end`."""
        inside = [(t, v[name]) for t, v in self.samples if name in v and start <= t <= end]
        before = [(t, v[name]) for t, v in self.samples if name in v and t < start]
        points = before[-1:] + inside
        if len(points) < 2 or points[-1][0] <= points[0][0]:
            return None
        return 100 * (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])

    def used(self, name: str, start: float, end: float) -> float | None:
        """The counter's increase between the samples nearest `start` and `end`."""
        inside = [v[name] for t, v in self.samples if name in v and start <= t <= end]
        before = [v[name] for t, v in self.samples if name in v and t < start]
        points = before[-1:] + inside
        return points[-1] - points[0] if len(points) >= 2 else None


def worker_pid(main_pid: int) -> int:
    """Dramatiq forks its worker process from the main one: the first child."""
    kids = children(main_pid)
    if not kids:
        raise RuntimeError(f"dramatiq process {main_pid} has no worker process (yet)")
    return kids[0]


def goal(value: float | None, target: float, *, at_least: bool = True) -> dict[str, Any]:
    """One entry of a result's `goals`: met when value >= target (or <= with
    at_least=False). A value that could not be measured (None) is never met."""
    met = value is not None and (value >= target if at_least else value <= target)
    return {"target": target, "value": value, "met": met}


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table, columns left-aligned; floats with up to 2 decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        return "-" if value is None else str(value)

    lines = [[cell(value) for value in row] for row in rows]
    widths = [max([len(str(h)), *(len(line[i]) for line in lines)]) for i, h in enumerate(headers)]

    def render(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render([str(h) for h in headers]), rule, *(render(line) for line in lines)])


def run_measured(
    measure: Callable[..., dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    quick_options: Mapping[str, Any],
    *,
    quick: bool,
    **options: Any,
) -> dict[str, Any]:
    """`measure(**options)`, in its reduced smoke form with quick=True (`quick_options`,
    any given here still winning); the result also carries "table", its console
    rendering."""
    result = measure(**{**(quick_options if quick else {}), **options})
    result["quick"] = quick
    result["table"] = render(result)
    return result


def report(result: Mapping[str, Any], json_path: Path | None) -> None:
    """Print a `run_measured` result as JSON, then its table; also write the JSON to
    `json_path` when given."""
    text = json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2)
    if json_path:
        json_path.write_text(text)
    print(text)
    print()
    print(result["table"])
