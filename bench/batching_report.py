"""bench.batching's console tables: the calls in process, then the worker's runs."""

from __future__ import annotations

from typing import Any

from bench.batching_worker import PATHS
from bench.stats import table


def render(result: dict[str, Any]) -> str:
    rows = []
    for size, paths in result["sizes"].items():
        for batch, bare in paths["bare"].items():
            exact = paths.get("exact", {}).get(batch, {})
            rows.append(
                [
                    f"{size}px",
                    batch,
                    f"{bare['secondsP50']:.3f}",
                    bare["imagesPerSecond"],
                    f"{bare['speedup']:.2f}x",
                    f"{bare['speedupBest']:.2f}x",
                    f"{exact['secondsP50']:.3f}" if exact else None,
                    exact.get("imagesPerSecond"),
                    f"{exact['speedup']:.2f}x" if exact else None,
                    f"{exact['vsBare']:.2f}x" if exact else None,
                    "/".join("yes" if row["sameAsAlone"] else "no" for row in (bare, exact) if row),
                ]
            )
    headers = [
        "size",
        "batch",
        "bare s p50",
        "bare img/s",
        "bare vs b1",
        "(best)",
        "exact s p50",
        "exact img/s",
        "exact vs b1",
        "exact/bare",
        "img 0 as alone",
    ]
    load = result["loadAverage"]
    heading = (
        f"{result['model']}, {result['steps']} steps, on {result['device']} "
        f"({result['threads']} torch threads, {result['cpus']} CPUs; load average "
        f"{load['before']:.2f} before, {load['after']:.2f} after)\n"
        f"bare diffusers call and our batch-exact path in process, {result['repeats']} repeats"
    )
    text = heading + "\n" + table(headers, rows)
    if result["worker"]:
        text += "\n\n" + render_worker(result)
    return text


def render_worker(result: dict[str, Any]) -> str:
    rows = []
    for size, paths in result["worker"].items():
        for path, by_batch in paths.items():
            for batch, row in by_batch.items():
                latency = row["latencyS"]
                rows.append(
                    [
                        f"{size}px",
                        f"{int(PATHS[path])} ({path})",
                        batch,
                        row["meanBatch"],
                        row["imagesPerSecond"],
                        f"{row['vsBatch1']:.2f}x",
                        f"{row['vsBatch1Best']:.2f}x",
                        row["bareImagesPerSecond"],
                        f"{row['vsBare']:.2f}x",
                        latency["p50"],
                        latency["p95"],
                        len(row["failed"]) or None,
                    ]
                )
    headers = [
        "size",
        "exact",
        "max batch",
        "mean batch",
        "img/s",
        "vs max 1",
        "(best)",
        "bare img/s",
        "vs bare",
        "latency s p50",
        "p95",
        "failed",
    ]
    heading = (
        f"one worker, {result['tasks']} compatible tasks in one submitTasks call, "
        f"{result['rounds']} round(s); bare: the same images, the same batch size, "
        "just before each round"
    )
    return heading + "\n" + table(headers, rows)
