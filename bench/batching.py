"""Cross-request batching (issue 17): the bare diffusers call at batch sizes 1, 2, 4, 8,
and one worker running 64 compatible tasks with ATELIER_MAX_BATCH 1, 2, 4, 8.

In process. What one StableDiffusionPipeline call makes per second on this machine
when it makes b images at once, for the tiny-random model: the physical limit that
batching compatible tasks in a worker can reach. The bare pipeline is loaded from the
same weights with nothing of ours around it and called as a cross-request batch would
call it: a list of b prompts (each a little different) and b generators, one seed each.
Beside it, on its own copy of the same weights, our batch-exact path
(pipelines/batch_exact.py, what pipelines/diffusion.py runs for several images: the
denoiser and the VAE go image by image so that a seed gives the same image at any batch
size) makes the same images, each prompt encoded on its own as a worker's batch encodes
each task's. The job system, progress callbacks and PNG encoding are not
part of either. Per size: warm-up calls at every batch size (new shapes build CPU
kernels), then `repeats` rounds, each timing every batch size once on each path, the
batch sizes in an order rotated each round and the paths alternating, so machine noise
spreads evenly. Reported per size, path and batch size: seconds per call (p50, p95),
images/s (b / p50), speedup (images/s over batch 1's on the same path; also from the
fastest of its calls, less sensitive to other load on the machine), exact's images/s
over bare's, and whether image 0 (the same prompt and seed at every batch size) came
out byte for byte as in a batch of 1.

The worker path (bench/batching_worker.py). A web node on a private stack, and per
ATELIER_BATCH_EXACT (0: "batched", the batch's kernels as one; 1: "exact") and
ATELIER_MAX_BATCH b one worker process, alone: `tasks` compatible tasks (prompts and
seeds differ; size and steps do not) submitted in one submitTasks call, each round
right after the bare call made as many images b at a time. Reported: images/s (tasks /
submit .. last outcome), per-task latency (submit .. its outcome, p50 and p95), the
batch actually achieved (result metadata `batch.tasks`: tasks per pipeline call), the
ratio to the same path's batch 1 (also from its fastest round) and to the bare call's
images/s at b (each round against the bare calls just before it).

The worker runs torch on `threads` threads (OMP_NUM_THREADS, 1 as the stack's workers
run), and this process's calls on as many, so the worker is read against a bare call
with the same CPU; the web node, Redis and this client have the rest of the machine.

Goals: bare batch 4 ≥ 2.5x batch 1 (the ceiling of the worker's goal), exact batch 4
within 10 % of bare; the worker, batched (exact=0), at ATELIER_MAX_BATCH 4: ≥ 2.5x its
images/s at 1, and ≥ 0.9x the bare call at batch 4 (exact=1's figures are reported
beside them, without a goal).

    python -m bench.batching [--sizes 64,256] [--batches 1,2,4,8] [--steps 20]
        [--repeats 5] [--no-exact] [--device cpu] [--threads 1]
        [--tasks 64] [--rounds 2] [--worker-paths batched,exact | none]
        [--redis-url URL] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench import batching_worker
from bench.batching_report import render
from bench.harness import STACK_ENV, ensure_model
from bench.resources import scratch
from bench.stats import goal, report, run_measured, summary
from project.localstack import Stack

PROMPT, NEGATIVE, SEED = "a lighthouse on a cliff at dusk", "blurry", 42
GOAL_BATCH, GOAL_SPEEDUP, GOAL_EXACT, GOAL_WORKER = 4, 2.5, 0.9, 0.9
WARM_UP = 2


def _load(model: Path, device: str) -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _encoded_alone(pipe: Any, prompts: list[str], device: str) -> dict[str, Any]:
    """The prompts' embeddings, each prompt encoded on its own as pipelines.diffusion
    encodes each task of a batch (encoded together, the text encoder's batched kernels
    round differently, and image 0 is no longer the one a batch of 1 makes)."""
    import torch

    encoded = [
        pipe.encode_prompt(
            prompt=prompt,
            device=device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt=NEGATIVE,
        )
        for prompt in prompts
    ]
    return {
        "prompt_embeds": torch.cat([positive for positive, _ in encoded]),
        "negative_prompt_embeds": torch.cat([negative for _, negative in encoded]),
    }


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch on `count` threads in this process, for the block (`make bench` runs
    other benchmarks in this same process afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(
    sizes: Sequence[int] = (64, 256),
    batches: Sequence[int] = (1, 2, 4, 8),
    steps: int = 20,
    repeats: int = 5,
    exact: bool = True,
    device: str | None = None,
    threads: int = 1,
    tasks: int = 64,
    rounds: int = 2,
    worker_paths: Sequence[str] = ("batched", "exact"),
    redis_url: str | None = None,
) -> dict[str, Any]:
    import torch

    from pipelines import tiny_random
    from pipelines.batch_exact import exact_batches

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    batches = sorted(batches)
    load_before = os.getloadavg()[0]
    with scratch("atelier-batching-", redis_url) as (work, redis_url, embedded), _threads(threads):
        model_dir = work / "models"
        ensure_model(model_dir)
        model = model_dir / "diffusers" / tiny_random.NAME
        pipes = {"bare": _load(model, device)}
        if exact:
            pipes["exact"] = _load(model, device)
            denoiser = exact_batches(pipes["exact"])

        def call(path: str, size: int, batch: int) -> bytes:
            """One pipeline call making `batch` images; image 0's pixels."""
            prompts = [f"{PROMPT} #{k}" for k in range(batch)]
            if path == "exact":  # as a worker's batch: each task's prompts encoded alone
                scope: Any = denoiser.batch_of(batch)
                texts = _encoded_alone(pipes[path], prompts, device)
            else:
                scope = contextlib.nullcontext()
                texts = {"prompt": prompts, "negative_prompt": [NEGATIVE] * batch}
            with scope:
                images = (
                    pipes[path](
                        **texts,
                        width=size,
                        height=size,
                        num_inference_steps=steps,
                        guidance_scale=7.5,
                        generator=[
                            torch.Generator(device).manual_seed(SEED + k) for k in range(batch)
                        ],
                    )
                ).images
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return bytes(images[0].tobytes())

        def bare(size: int, batch: int) -> float:
            started = time.perf_counter()
            call("bare", size, batch)
            return time.perf_counter() - started

        results = {
            str(size): _one_size(call, list(pipes), size, batches, repeats) for size in sizes
        }
        workers: dict[str, Any] = {}
        if worker_paths:
            env = {
                **STACK_ENV,
                "ATELIER_DEVICE": device,
                "ATELIER_MAX_BATCH_SUBMIT": str(max(100, tasks)),
            }
            stack = Stack(redis_url, work / "stack", model_dir, env)
            with stack.held():
                stack.start_web()
                workers = batching_worker.measure(
                    stack,
                    bare,
                    sizes=sizes,
                    batches=batches,
                    paths=worker_paths,
                    steps=steps,
                    tasks=tasks,
                    rounds=rounds,
                    threads=threads,
                )
    return {
        "device": device,
        "threads": threads,
        "cpus": len(os.sched_getaffinity(0)),
        "loadAverage": {"before": load_before, "after": os.getloadavg()[0]},
        "redis": "embedded (private)" if embedded else redis_url,
        "model": tiny_random.NAME,
        "steps": steps,
        "repeats": repeats,
        "tasks": tasks,
        "rounds": rounds,
        "sizes": results,
        "worker": workers,
        "goals": _goals(results, workers),
    }


def _goals(results: dict[str, Any], workers: dict[str, Any]) -> dict[str, Any]:
    goals = {}
    four = str(GOAL_BATCH)
    for size, paths in results.items():
        if four in paths["bare"]:
            goals[f"bare {size}px: batch {four} images/s ≥ {GOAL_SPEEDUP}x batch 1"] = goal(
                paths["bare"][four]["speedup"], GOAL_SPEEDUP
            )
        if four in paths.get("exact", {}):
            goals[f"exact {size}px: batch {four} images/s ≥ {GOAL_EXACT}x bare"] = goal(
                paths["exact"][four]["vsBare"], GOAL_EXACT
            )
    for size, paths in workers.items():
        row = paths.get("batched", {}).get(four)
        if row is None:
            continue
        name = f"worker {size}px exact=0: max batch {four}"
        goals[f"{name} images/s ≥ {GOAL_SPEEDUP}x max batch 1"] = goal(
            row["vsBatch1"], GOAL_SPEEDUP
        )
        goals[f"{name} images/s ≥ {GOAL_WORKER}x bare batch {four}"] = goal(
            row["vsBare"], GOAL_WORKER
        )
    return goals


def _one_size(
    call: Any, paths: list[str], size: int, batches: list[int], repeats: int
) -> dict[str, Any]:
    for _ in range(WARM_UP):
        for batch in batches:
            for path in paths:
                call(path, size, batch)
    seconds: dict[tuple[str, int], list[float]] = {(p, b): [] for p in paths for b in batches}
    first_image: dict[tuple[str, int], set[bytes]] = {(p, b): set() for p in paths for b in batches}
    for round_ in range(repeats):
        shift = round_ % len(batches)
        for batch in batches[shift:] + batches[:shift]:
            for path in paths if round_ % 2 == 0 else paths[::-1]:
                started = time.perf_counter()
                pixels = call(path, size, batch)
                seconds[(path, batch)].append(time.perf_counter() - started)
                first_image[(path, batch)].add(pixels)
    base = batches[0]
    figures: dict[str, Any] = {}
    for path in paths:
        rows = figures[path] = {}
        for batch in batches:
            ms = summary(seconds[(path, batch)], scale=1000)
            p50 = ms["p50"] / 1000
            rows[str(batch)] = {
                "secondsP50": round(p50, 4),
                "secondsP95": round(ms["p95"] / 1000, 4),
                "imagesPerSecond": round(batch / p50, 2),
                "imagesPerSecondBest": round(batch / min(seconds[(path, batch)]), 2),
                "sameAsAlone": first_image[(path, batch)] == first_image[(path, base)]
                and len(first_image[(path, batch)]) == 1,
            }
        for row in rows.values():
            for key, of in (("speedup", "imagesPerSecond"), ("speedupBest", "imagesPerSecondBest")):
                row[key] = round(row[of] / rows[str(base)][of], 2)
    for batch, row in figures.get("exact", {}).items():
        row["vsBare"] = round(row["imagesPerSecond"] / figures["bare"][batch]["imagesPerSecond"], 2)
    return figures


QUICK: dict[str, Any] = {
    "sizes": (64,),
    "batches": (1, 4),
    "steps": 2,
    "repeats": 2,
    "tasks": 8,
    "worker_paths": ("batched",),
}


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    return run_measured(measure, render, QUICK, quick=quick, **options)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _paths(text: str) -> tuple[str, ...]:
    paths = tuple(part for part in text.split(",") if part and part != "none")
    unknown = set(paths) - set(batching_worker.PATHS)
    if unknown:
        raise argparse.ArgumentTypeError(f"not a worker path: {', '.join(sorted(unknown))}")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_ints, default=(64, 256))
    parser.add_argument("--batches", type=_ints, default=(1, 2, 4, 8))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="rounds in process")
    parser.add_argument("--no-exact", action="store_true", help="in process, the bare call only")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, worker and bare")
    parser.add_argument("--tasks", type=int, default=64, help="tasks per worker round")
    parser.add_argument("--rounds", type=int, default=2, help="worker rounds per setting")
    parser.add_argument(
        "--worker-paths",
        type=_paths,
        default=("batched", "exact"),
        help="ATELIER_BATCH_EXACT settings to run workers with: batched (0), exact (1), none",
    )
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    options: dict[str, Any] = {
        "sizes": args.sizes,
        "batches": args.batches,
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": args.threads,
        "tasks": args.tasks,
        "rounds": args.rounds,
        "worker_paths": args.worker_paths,
    }
    if args.device:
        options["device"] = args.device
    if args.no_exact:
        options["exact"] = False
    where = {"redis_url": args.redis_url}
    report(run(quick=args.quick, **(where if args.quick else {**options, **where})), args.json)


if __name__ == "__main__":
    main()
