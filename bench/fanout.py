"""Fan-out: many websocket subscribers following running tasks' progress through web nodes.

Each level runs once per number of web nodes (`--web-nodes`, default 1 then 2: a
daphne process uses one core, so a 2-core box serves with two, the client
processes dealt to them in turn as a load balancer would).

For each level (number of subscribers) it starts fresh daphnes (project/localstack.py,
private prefixes, on the local Redis or an embedded one), starts one task per
`per_task` subscribers through the worker's own store-and-publish path
(bench/fanout_emitter.py: TaskStore + TaskReporter + ThreadedPublisher, no
Dramatiq), connects the subscribers from several client processes
(bench/fanout_pool.py, each a bench/fanout_client.py: one websocket and one
`taskProgress` subscription per subscriber), then has every task report `rate`
steps a second for `seconds` and succeed. The subscribers get 4 s after the last
report to receive everything; what is still pending then is counted as missed,
and in the lag spread with its lag so far.

Each level's figures (deliveries/s, lag, CPU, RSS, garbage collections, refusals,
misses), the goals and the table: bench/fanout_report.py, whose docstring defines them.

    python -m bench.fanout [--quick] [--levels 100,300,500,600,2000] [--seconds 8]
                           [--clients 4] [--web-nodes 1,2] [--profile DIR]
                           [--web-gc tuned] [--keep]
                           [--json PATH]

--profile DIR records the web process with py-spy (bench/profiling.py) during
the largest level's emission and adds its top frames to the result. --web-gc
tuned tries a GC fix without touching the app: gc.freeze() once it is loaded and
gc.set_threshold(50000, 20, 100).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from bench.fanout_emitter import Emitter
from bench.fanout_pool import Clients, assign
from bench.fanout_report import goals, render, summarise
from bench.gcprobe import GC_PROBE, gc_delta, gc_total, read_stats
from bench.harness import reap
from bench.profiling import finish_profiler, start_profiler
from bench.resources import scratch
from bench.stats import (
    Sampler,
    live_cpu_seconds,
    machine_busy_seconds,
    memory_mb,
    report,
    run_measured,
    run_queue_seconds,
)
from project.devredis import free_port
from project.localstack import Stack

# The 100, 500 and 2,000, with 300 and 600 between: a finer search for the
# most a node delivers within the lag bound (500 offers exactly 5,000 events/s).
LEVELS = (100, 300, 500, 600, 2000)
# One web node (one core's worth: daphne is single-threaded), then two on this box,
# behind no balancer: the client processes are dealt to the nodes in turn.
WEB_NODES = (1, 2)
PER_TASK = 20
RATE = 10.0
# The smoke form (about 15 s): one small level on one node.
QUICK: dict[str, Any] = {"levels": (100,), "seconds": 4.0, "clients": 2, "web_nodes": (1,)}


def redis_cpu(client: redis.Redis) -> float:
    """CPU seconds the Redis server has used (INFO: readable wherever it runs)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _largest_mb(pids: Sequence[int], line: str) -> float:
    # Per node: the largest of the nodes'.
    return round(max(memory_mb(pid, line) for pid in pids), 1)


def run_level(
    redis_url: str,
    work: Path,
    subscribers: int,
    *,
    seconds: float,
    clients: int,
    nodes: int = 1,
    per_task: int = PER_TASK,
    rate: float = RATE,
    connect_concurrency: int = 16,
    extra_env: Mapping[str, str] | None = None,
    profile: Path | None = None,
    web_gc: str = "default",
    drain: float = 4.0,
) -> dict[str, Any]:
    """One level: `subscribers` over `nodes` web nodes (the client processes dealt to
    them in turn; the first node's process is profiled into `profile` when given)."""
    folder = work / f"level-{subscribers}-{nodes}node"
    probe = work / "gcprobe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(GC_PROBE)
    gc_stats = folder / "web-gc.json"
    env = {
        "ATELIER_DEBUG": "0",
        # Every subscriber is a websocket of its own, all from this machine's address.
        "ATELIER_WS_MAX_PER_CLIENT": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")])),
        "FANOUT_GC_STATS": str(gc_stats),
        "FANOUT_WEB_GC": web_gc,
        **(extra_env or {}),
    }
    stack = Stack(redis_url, folder, work / "models", env)
    with contextlib.ExitStack() as cleanup:  # on the way out, in reverse order
        cleanup.callback(stack.purge)  # a shared Redis keeps nothing of ours
        cleanup.callback(stack.stop)
        ports = [stack.port, *(free_port() for _ in range(nodes - 1))]
        pids = [stack.start_web(port).popen.pid for port in ports]
        rss_idle = _largest_mb(pids, "VmRSS")
        Path(f"{gc_stats}.freeze").touch()  # the app is loaded (web_gc="tuned" freezes it)
        emitter = Emitter(
            redis_url, stack.env["ATELIER_KEY_PREFIX"], stack.env["ATELIER_CHANNEL_PREFIX"]
        )
        cleanup.callback(emitter.close)
        tasks = emitter.start_tasks(math.ceil(subscribers / per_task))
        assignment = assign([t.id for t in tasks], subscribers, per_task, max(clients, nodes))
        urls = [f"ws://127.0.0.1:{port}/graphql" for port in ports]
        connect_began = time.time()
        procs = cleanup.enter_context(Clients.spawn(folder, urls, assignment, connect_concurrency))
        procs.wait_ready(timeout=180)
        connect_seconds = time.time() - connect_began
        rss_held = _largest_mb(pids, "VmRSS")
        counters: dict[str, Callable[[], float]] = {
            "web": lambda: sum(map(live_cpu_seconds, pids)),
            "webWait": lambda: sum(map(run_queue_seconds, pids)),
            "emitter": lambda: live_cpu_seconds(os.getpid()),
            "machine": machine_busy_seconds,
            **procs.cpu_counters(),
        }
        redis_before = redis_cpu(emitter.client)
        gc_before = [read_stats(Path(f"{gc_stats}.{pid}")) for pid in pids]
        start_at = time.time() + 0.3
        spy = None if profile is None else start_profiler(profile, pids[0], seconds + 2)
        if spy is not None:
            cleanup.callback(reap, spy, 0)
        with Sampler(counters) as sampler:
            steps = max(1, round(seconds * rate))
            emission = emitter.run(tasks, steps=steps, rate=rate, start_at=start_at)
            redis_used = redis_cpu(emitter.client) - redis_before
            redis_window = max(1e-6, time.time() - start_at)
            results, stopped_at = procs.finish(timeout=drain)
        rss_peak = _largest_mb(pids, "VmHWM")
        time.sleep(0.6)  # the probe's next write
        gc_after = [read_stats(Path(f"{gc_stats}.{pid}")) for pid in pids]
        profiled = None if spy is None or profile is None else finish_profiler(spy, profile)
        errors_in_log = sum(web.output().count("Traceback") for web in stack.processes)
    level = summarise(
        subscribers,
        emission,
        results,
        sampler,
        stopped_at=stopped_at,
        clients=len(assignment),
        per_task=per_task,
    )
    level["webNodes"] = nodes
    gc = [gc_delta(b, a, web_gc) for b, a in zip(gc_before, gc_after, strict=True)]
    level["web"].update(
        {
            "rssIdleMb": rss_idle,
            "rssHeldMb": rss_held,
            "rssPeakMb": rss_peak,
            "errorsInLog": errors_in_log,
            "gc": gc_total(gc),
        }
    )
    level["connectSeconds"] = round(connect_seconds, 2)
    level["redisCpuPercent"] = round(100 * redis_used / redis_window, 1)
    if profiled is not None:
        level["profile"] = profiled
    return level


def measure(
    *,
    levels: Sequence[int] = LEVELS,
    seconds: float = 8.0,
    clients: int = 4,
    web_nodes: Sequence[int] = WEB_NODES,
    per_task: int = PER_TASK,
    rate: float = RATE,
    redis_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    profile: Path | None = None,
    keep: bool = False,
    web_gc: str = "default",
) -> dict[str, Any]:
    """Every level (fresh web nodes each) with each number of `web_nodes`.

    `seconds`: the emission per level. `clients`: subscriber processes (at least one
    per node). `profile`: py-spy the first node during the largest one-node level (see
    the module docstring). `keep`: leave the work folder (web and client logs) in
    place; its path is in the result. `web_gc`: "tuned" tries the GC fix.

    Result keys: machine, seconds, rate, perTask, levels (bench/fanout_report.py's
    figures per level), goals, wallSeconds, and workFolder when kept.
    """
    began = time.time()
    with scratch("atelier-fanout-", redis_url, keep=keep) as (work, redis_url, _):
        largest = max(levels)
        results = [
            run_level(
                redis_url,
                work,
                level,
                seconds=seconds,
                clients=clients,
                nodes=nodes,
                per_task=per_task,
                rate=rate,
                extra_env=extra_env,
                profile=profile if level == largest and nodes == 1 else None,
                web_gc=web_gc,
            )
            for nodes in web_nodes
            for level in levels
        ]
    return {
        "machine": {"cpus": os.cpu_count(), "loadAverage": list(os.getloadavg())},
        "seconds": seconds,
        "rate": rate,
        "perTask": per_task,
        "levels": results,
        "goals": goals(results),
        "wallSeconds": round(time.time() - began, 1),
        **({"workFolder": str(work)} if keep else {}),
    }


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small level, ~15 s")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--seconds", type=float, default=None, help="emission per level")
    parser.add_argument("--clients", type=int, default=4, help="subscriber processes")
    parser.add_argument(
        "--web-nodes", default=",".join(map(str, WEB_NODES)), help="web nodes per run, e.g. 1,2"
    )
    parser.add_argument("--per-task", type=int, default=PER_TASK)
    parser.add_argument("--rate", type=float, default=RATE, help="events per task per second")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the largest level")
    parser.add_argument(
        "--web-gc",
        choices=("default", "tuned"),
        default="default",
        help="tuned: try gc.freeze() after start and gc.set_threshold(50000, 20, 100) in the web",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    parser.add_argument("--json", type=Path, default=None, help="write the report here too")
    args = parser.parse_args()
    options: dict[str, Any] = {
        "levels": tuple(int(n) for n in args.levels.split(",")),
        "clients": args.clients,
        "web_nodes": tuple(int(n) for n in args.web_nodes.split(",")),
        "per_task": args.per_task,
        "rate": args.rate,
        "profile": args.profile,
        "keep": args.keep,
        "web_gc": args.web_gc,
    }
    if args.seconds is not None:
        options["seconds"] = args.seconds
    if args.quick:  # QUICK's level and node; --clients can only lower its client processes
        del options["levels"], options["web_nodes"]
        options["clients"] = min(args.clients, QUICK["clients"])
    report(run(quick=args.quick, **options), args.json)


if __name__ == "__main__":
    main()
