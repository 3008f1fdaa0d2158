"""Overhead of our text-to-image pipeline over the bare diffusers call, in one run.

Both calls use the same loaded tiny-random model, prompt, size, steps and seed,
interleaved so machine noise hits both alike. Ours adds prompt refinement, the
per-step progress callback and PNG encoding; the bare call returns a PIL image.

    python -m bench.pipelines [--steps 20] [--size 512] [--repeats 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.images import encode_png
from pipelines.models import ModelStore
from pipelines.progress import Progress
from pipelines.text_to_image import TextToImage, TextToImageParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default=None, help="default: best available")
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()

    import torch

    root = args.model_dir or Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    ours = TextToImage.load("tiny-random", ModelStore(root=root), device=args.device)
    pipe = ours.pipe
    params = TextToImageParams(
        prompt="a lighthouse on a cliff at dusk",
        negative_prompt="blurry",
        width=args.size,
        height=args.size,
        steps=args.steps,
        seed=42,
    )
    events: list[Progress] = []

    def synchronize() -> None:
        if ours.diffusion.device.startswith("cuda"):
            torch.cuda.synchronize()

    def bare() -> Any:
        image = pipe(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            width=params.width,
            height=params.height,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance_scale,
            generator=torch.Generator(device=ours.diffusion.device).manual_seed(42),
        ).images[0]
        synchronize()
        return image

    def ours_call() -> None:
        ours.run(params, events.append)
        synchronize()

    for call in (bare, ours_call):  # warm-up: kernels, allocator, caches
        call()
    timings: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(args.repeats):
        for name, call in (("bare", bare), ("ours", ours_call)):
            started = time.perf_counter()
            call()
            timings[name].append(time.perf_counter() - started)

    image = bare()  # the PNG encode ours adds, timed on this very output
    encodes = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        encode_png(image)
        encodes.append(time.perf_counter() - started)

    bare_ms = statistics.median(timings["bare"]) * 1000
    ours_ms = statistics.median(timings["ours"]) * 1000
    encode_ms = statistics.median(encodes) * 1000
    report = {
        "device": ours.diffusion.device,
        "steps": args.steps,
        "size": args.size,
        "repeats": args.repeats,
        "bareMsP50": round(bare_ms, 2),
        "oursMsP50": round(ours_ms, 2),
        "overheadRatio": round(ours_ms / bare_ms - 1, 4),
        "pngEncodeMsP50": round(encode_ms, 2),
        "overheadRatioWithoutPng": round((ours_ms - encode_ms) / bare_ms - 1, 4),
    }
    print(json.dumps(report, indent=2))
    print(
        "\n".join(
            f"{name}: {[round(t * 1000, 1) for t in values]}" for name, values in timings.items()
        )
    )
    print(
        f"\nours vs bare diffusers, {args.steps} steps at {args.size}px "
        f"on {ours.diffusion.device}: "
        f"{ours_ms:.1f} ms vs {bare_ms:.1f} ms p50 -> overhead {report['overheadRatio']:+.2%} "
        f"({report['overheadRatioWithoutPng']:+.2%} without the {encode_ms:.1f} ms PNG encode)"
    )


if __name__ == "__main__":
    main()
