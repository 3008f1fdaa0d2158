"""Submitting an image as a multipart upload (`imageFile`) against inline base64 (`image`).

Starts its own daphne (project/localstack.py, no worker: each task is cancelled while
QUEUED once submitted) on the local Redis (or an embedded one), then submits the same
background-removal task both ways, interleaved, for incompressible PNGs of several
sizes, one request at a time over one HTTP connection:
  - the request's wall time at the client (send to answer)
  - the web node's CPU time for it (/proc, before and after the request; a mean)
  - the bytes sent (the request body)
Base64 is the baseline: each size reports multipart/base64 ratios of the three.

Result (bench/stats.py: run_measured, report): sizes {label: {bytes, base64, multipart,
ratios}}, goals, quick, table. `--quick`: one small size, 5 requests each (QUICK).

    python -m bench.uploads [--repeats 15] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.harness import STACK_ENV
from bench.resources import scratch
from bench.stats import cpu_seconds, goal, report, run_measured, summary, table
from project.localclient import CANCEL
from project.localstack import ALICE_KEY, Stack

SUBMIT = "mutation S($input: SubmitTaskInput!) { submitTask(input: $input) { id } }"
FIELD_PATH = "variables.input.backgroundRemoval.imageFile"
# Side lengths of square noise PNGs: about 0.2, 3 and 7 MB (the default limit is 10 MB).
SIDES = {"256 px": 256, "1024 px": 1024, "1536 px": 1536}
QUICK = {"repeats": 5, "sides": {"256 px": 256}}
WARM_UP = 3


def noise_png(side: int) -> bytes:
    pixels = np.random.default_rng(side).integers(0, 255, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def as_base64(data: bytes) -> dict[str, Any]:
    """httpx keyword arguments for the JSON request carrying `data` inline."""
    variables = {"input": {"backgroundRemoval": {"image": base64.b64encode(data).decode()}}}
    body = json.dumps({"query": SUBMIT, "variables": variables}).encode()
    return {"content": body, "headers": {"Content-Type": "application/json"}}


def as_multipart(data: bytes) -> dict[str, Any]:
    """httpx keyword arguments for the spec's request carrying `data` as a file part."""
    operations = {
        "query": SUBMIT,
        "variables": {"input": {"backgroundRemoval": {"imageFile": None}}},
    }
    request = httpx.Request(
        "POST",
        "http://placeholder/",
        files={
            "operations": (None, json.dumps(operations), "application/json"),
            "map": (None, json.dumps({"0": [FIELD_PATH]}), "application/json"),
            "0": ("image.png", data, "image/png"),
        },
    )
    body = request.read()
    return {"content": body, "headers": {"Content-Type": request.headers["Content-Type"]}}


def one_request(
    client: httpx.Client, web_pid: int, request: Mapping[str, Any]
) -> tuple[float, float]:
    """(wall ms, web CPU ms) of one submit; the task is then cancelled, untimed."""
    cpu_before = cpu_seconds(web_pid)
    started = time.perf_counter()
    answer = client.post("/graphql", **request)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(web_pid) - cpu_before
    body = answer.json()
    assert not body.get("errors"), body["errors"]
    task_id = body["data"]["submitTask"]["id"]
    client.post("/graphql", json={"query": CANCEL, "variables": {"id": task_id}})
    return wall * 1000, cpu * 1000


def measure_size(client: httpx.Client, web_pid: int, data: bytes, repeats: int) -> dict[str, Any]:
    shapes: dict[str, Callable[[bytes], dict[str, Any]]] = {
        "base64": as_base64,
        "multipart": as_multipart,
    }
    requests = {name: shape(data) for name, shape in shapes.items()}
    samples: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in shapes}
    for round_ in range(WARM_UP + repeats):
        for name, request in requests.items():
            wall, cpu = one_request(client, web_pid, request)
            if round_ >= WARM_UP:
                samples[name]["wall"].append(wall)
                samples[name]["cpu"].append(cpu)
    result: dict[str, Any] = {"imageBytes": len(data)}
    for name, request in requests.items():
        result[name] = {
            "requestBytes": len(request["content"]),
            "wallMs": summary(samples[name]["wall"], (95,)),
            # /proc counts CPU in 10 ms ticks: the mean over every request, not a percentile.
            "webCpuMsMean": round(sum(samples[name]["cpu"]) / repeats, 2),
        }
    base, multi = result["base64"], result["multipart"]
    result["ratios"] = {
        "requestBytes": round(multi["requestBytes"] / base["requestBytes"], 3),
        "wallP50": round(multi["wallMs"]["p50"] / base["wallMs"]["p50"], 3),
        "webCpuMean": round(multi["webCpuMsMean"] / max(base["webCpuMsMean"], 1e-9), 3),
    }
    return result


def measure(repeats: int = 15, sides: Mapping[str, int] = SIDES) -> dict[str, Any]:
    with scratch("atelier-uploads-", None) as (work, redis_url, _):
        env = {**STACK_ENV, "ATELIER_MAX_BODY_BYTES": str(64 * 1024 * 1024)}
        stack = Stack(redis_url, work / "stack", work / "models", env)
        with stack.held():
            web = stack.start_web()
            headers = {"Authorization": f"Bearer {ALICE_KEY}"}
            with httpx.Client(base_url=stack.http_url, headers=headers, timeout=120) as client:
                sizes = {
                    label: measure_size(client, web.popen.pid, noise_png(side), repeats)
                    for label, side in sides.items()
                }
    largest = sizes[list(sizes)[-1]]["ratios"]
    return {
        "repeats": repeats,
        "sizes": sizes,
        "goals": {
            "multipart bytes sent / base64's, largest image <= 0.8": goal(
                largest["requestBytes"], 0.8, at_least=False
            ),
            "multipart web CPU / base64's, largest image <= 1.0": goal(
                largest["webCpuMean"], 1.0, at_least=False
            ),
        },
    }


def render(result: Mapping[str, Any]) -> str:
    rows = []
    for label, size in result["sizes"].items():
        for name in ("base64", "multipart"):
            shape = size[name]
            rows.append(
                [
                    f"{label} ({size['imageBytes'] / 1e6:.2f} MB)",
                    name,
                    f"{shape['requestBytes'] / 1e6:.2f}",
                    shape["wallMs"]["p50"],
                    shape["wallMs"]["p95"],
                    shape["webCpuMsMean"],
                ]
            )
        ratios = size["ratios"]
        rows.append(
            [
                "",
                "multipart / base64",
                ratios["requestBytes"],
                ratios["wallP50"],
                "",
                ratios["webCpuMean"],
            ]
        )
    headers = ["image", "request", "MB sent", "wall p50 ms", "wall p95 ms", "web CPU ms (mean)"]
    return table(headers, rows) + f"\n{result['repeats']} requests each, interleaved"


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    """`measure(**options)`; with quick=True in its smoke form (QUICK)."""
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="one small image, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    report(run(quick=True) if args.quick else run(repeats=args.repeats), args.json)


if __name__ == "__main__":
    main()
