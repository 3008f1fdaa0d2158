"""The bare diffusers call at batch sizes 1, 2, 4, 8: the ceiling of cross-request batching.

What one StableDiffusionPipeline call makes per second on this machine when it makes b
images at once, for the tiny-random model: the physical limit that batching compatible
tasks in a worker (issue 17) can reach. The bare pipeline is loaded from the same
weights with nothing of ours around it and called as a cross-request batch would call
it: a list of b prompts (each a little different) and b generators, one seed each.
Beside it, on its own copy of the same weights, our batch-exact path
(pipelines/batch_exact.py, what pipelines/diffusion.py runs for several images: the
denoiser and the VAE go image by image so that a seed gives the same image at any batch
size) takes the same call. The job system, progress callbacks and PNG encoding are not
part of either.

Per size: warm-up calls at every batch size (new shapes build CPU kernels), then
`repeats` rounds, each timing every batch size once on each path, the batch sizes in an
order rotated each round and the paths alternating, so machine noise spreads evenly.

Reported per size, path and batch size: seconds per call (p50, p95), images/s (b / p50),
speedup (images/s over batch 1's on the same path; also from the fastest of its calls,
less sensitive to other load on the machine), exact's images/s over bare's, and whether
image 0 (the same prompt and seed at every batch size) came out byte for byte as in a
batch of 1. Goals: bare batch 4 ≥ 2.5x batch 1 (issue 17's goal for the worker cannot
beat this ceiling), exact batch 4 within 10 % of bare.

    python -m bench.batching [--sizes 64,256] [--batches 1,2,4,8] [--steps 20]
                             [--repeats 5] [--no-exact] [--device cpu] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ensure_model
from bench.stats import goal, report, run_measured, summary, table

PROMPT, NEGATIVE, SEED = "a lighthouse on a cliff at dusk", "blurry", 42
GOAL_BATCH, GOAL_SPEEDUP, GOAL_EXACT = 4, 2.5, 0.9
WARM_UP = 2


def _load(model: Path, device: str) -> Any:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def measure(
    sizes: Sequence[int] = (64, 256),
    batches: Sequence[int] = (1, 2, 4, 8),
    steps: int = 20,
    repeats: int = 5,
    exact: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    import torch

    from pipelines import tiny_random
    from pipelines.batch_exact import exact_batches

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    batches = sorted(batches)
    root = Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    try:
        ensure_model(root)
        model = root / "diffusers" / tiny_random.NAME
        pipes = {"bare": _load(model, device)}
        if exact:
            pipes["exact"] = _load(model, device)
            denoiser = exact_batches(pipes["exact"])

        def call(path: str, size: int, batch: int) -> bytes:
            """One pipeline call making `batch` images; image 0's pixels."""
            scope = denoiser.batch_of(batch) if path == "exact" else contextlib.nullcontext()
            with scope:
                images = (
                    pipes[path](
                        prompt=[f"{PROMPT} #{k}" for k in range(batch)],
                        negative_prompt=[NEGATIVE] * batch,
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

        results = {
            str(size): _one_size(call, list(pipes), size, batches, repeats) for size in sizes
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    goals = {}
    for size, paths in results.items():
        four = str(GOAL_BATCH)
        if four in paths["bare"]:
            goals[f"bare {size}px: batch {four} images/s ≥ {GOAL_SPEEDUP}x batch 1"] = goal(
                paths["bare"][four]["speedup"], GOAL_SPEEDUP
            )
        if four in paths.get("exact", {}):
            goals[f"exact {size}px: batch {four} images/s ≥ {GOAL_EXACT}x bare"] = goal(
                paths["exact"][four]["vsBare"], GOAL_EXACT
            )
    return {
        "device": device,
        "threads": torch.get_num_threads(),
        "model": tiny_random.NAME,
        "steps": steps,
        "repeats": repeats,
        "sizes": results,
        "goals": goals,
    }


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
    heading = (
        f"{result['model']}, {result['steps']} steps, {result['repeats']} repeats, "
        f"on {result['device']} ({result['threads']} threads)"
    )
    return heading + "\n" + table(headers, rows)


QUICK: dict[str, Any] = {"sizes": (64,), "batches": (1, 2), "steps": 4, "repeats": 2}


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    return run_measured(measure, render, QUICK, quick=quick, **options)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_ints, default=(64, 256))
    parser.add_argument("--batches", type=_ints, default=(1, 2, 4, 8))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-exact", action="store_true", help="the bare call only")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    options: dict[str, Any] = {
        "sizes": args.sizes,
        "batches": args.batches,
        "steps": args.steps,
        "repeats": args.repeats,
    }
    if args.device:
        options["device"] = args.device
    if args.no_exact:
        options["exact"] = False
    report(run(quick=args.quick, **({} if args.quick else options)), args.json)


if __name__ == "__main__":
    main()
