"""Overhead of our diffusion pipelines over the bare diffusers call, per kind, in one run.

For each case (text-to-image, image-to-image, inpainting, and text-to-image making
several images) ours and the bare diffusers pipeline (loaded on its own from the same
weights, no wrapper of ours) run the same prompt, size, steps, strength and seeds,
interleaved so machine noise hits both alike. Ours adds prompt refinement, decoding
the input from its bytes, per-step progress, batch-exact denoising, inpainting's
composite and PNG encoding; the bare call takes and returns PIL images.

Reported per case: p50 of each, the overhead as a ratio, per denoising step in ms,
and the ratio without the PNG codec work (input decode, output encode). Goal: within
2 % without the codec (the per-step cost is what a long run multiplies).

    python -m bench.pipelines [--steps 20] [--size 512] [--repeats 5] [--device cpu]
                              [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.stats import goal, report, run_measured, summary, table
from pipelines.diffusion import StableDiffusion
from pipelines.diffusion_params import denoising_steps
from pipelines.image_to_image import ImageToImage, ImageToImageParams, Inpainting, InpaintingParams
from pipelines.models import ModelStore
from pipelines.output import Output
from pipelines.text_to_image import TextToImage, TextToImageParams

PROMPT, NEGATIVE, SEED, STRENGTH = "a lighthouse on a cliff at dusk", "blurry", 42, 0.75
GOAL_RATIO = 0.02
# CPU kernels are built for each new tensor shape on its first call or two (seconds);
# each case's first runs are not measured.
WARM_UP = 3


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def measure(
    steps: int = 20, size: int = 512, repeats: int = 5, device: str | None = None
) -> dict[str, Any]:
    import torch
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )

    root = Path(tempfile.mkdtemp(prefix="atelier-bench-"))
    weights = StableDiffusion.load("tiny-random", ModelStore(root=root), device=device)
    plain = AutoPipelineForText2Image.from_pretrained(weights.source, dtype=_dtype(weights))
    plain = plain.to(weights.device)
    plain.set_progress_bar_config(disable=True)
    bare_pipes = {
        "text-to-image": plain,
        "image-to-image": AutoPipelineForImage2Image.from_pipe(plain),
        "inpainting": AutoPipelineForInpainting.from_pipe(plain),
    }
    for pipe in bare_pipes.values():
        pipe.set_progress_bar_config(disable=True)
    noise = np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)
    picture = Image.fromarray(noise)
    mask = Image.new("L", (size, size), 0)
    mask.paste(255, (size // 4, size // 4, 3 * size // 4, 3 * size // 4))
    common: dict[str, Any] = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "steps": steps,
        "seed": SEED,
    }

    def synchronize() -> None:
        if weights.device.startswith("cuda"):
            torch.cuda.synchronize()

    def generators(count: int) -> list[Any]:
        return [torch.Generator(weights.device).manual_seed(SEED + k) for k in range(count)]

    def case(mode: str, run: Callable[[], Output], extra: dict[str, Any], images: int = 1):
        def bare() -> None:
            bare_pipes[mode](
                prompt=PROMPT,
                negative_prompt=NEGATIVE,
                width=size,
                height=size,
                num_inference_steps=steps,
                guidance_scale=7.5,
                num_images_per_prompt=images,
                generator=generators(images),
                **extra,
            )
            synchronize()

        def ours() -> Output:
            output = run()
            synchronize()
            return output

        return bare, ours, denoising_steps(steps, extra.get("strength"))

    text, edit, inpaint = TextToImage(weights), ImageToImage(weights), Inpainting(weights)
    image_bytes, mask_bytes = _png(picture), _png(mask)
    cases = {
        "text-to-image": case(
            "text-to-image",
            lambda: text.run(TextToImageParams(**common, width=size, height=size)),
            {},
        ),
        "image-to-image": case(
            "image-to-image",
            lambda: edit.run(ImageToImageParams(**common, image=image_bytes, strength=STRENGTH)),
            {"image": picture, "strength": STRENGTH},
        ),
        "inpainting": case(
            "inpainting",
            lambda: inpaint.run(
                InpaintingParams(**common, image=image_bytes, mask=mask_bytes, strength=STRENGTH)
            ),
            {"image": picture, "mask_image": mask, "strength": STRENGTH},
        ),
        "text-to-image x2": case(
            "text-to-image",
            lambda: text.run(TextToImageParams(**common, width=size, height=size, num_images=2)),
            {},
            images=2,
        ),
    }
    results = {}
    for name, (bare, ours, steps_run) in cases.items():
        for _ in range(WARM_UP):  # kernels for new shapes, allocator, caches, from_pipe views
            bare(), ours()
        bare_s, ours_s, codec_ms = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            bare()
            bare_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            output = ours()
            ours_s.append(time.perf_counter() - started)
            timings = output.metadata["timings"]
            codec_ms.append(timings.get("decodeInputMs", 0.0) + timings["encodeMs"])
        bare_ms, ours_ms = summary(bare_s, scale=1000)["p50"], summary(ours_s, scale=1000)["p50"]
        codec = summary(codec_ms)["p50"]
        results[name] = {
            "steps": steps_run,
            "bareMsP50": bare_ms,
            "oursMsP50": ours_ms,
            "overheadRatio": round(ours_ms / bare_ms - 1, 4),
            "overheadMsPerStep": round((ours_ms - bare_ms) / steps_run, 2),
            "codecMsP50": codec,
            "overheadRatioWithoutCodec": round((ours_ms - codec) / bare_ms - 1, 4),
        }
    return {
        "device": weights.device,
        "size": size,
        "steps": steps,
        "repeats": repeats,
        "cases": results,
        "goals": {
            f"{name} overhead without codec ≤ {GOAL_RATIO:.0%}": goal(
                figures["overheadRatioWithoutCodec"], GOAL_RATIO, at_least=False
            )
            for name, figures in results.items()
        },
    }


def _dtype(weights: StableDiffusion) -> Any:
    return weights.pipe_for("text-to-image").dtype


def render(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            figures["steps"],
            figures["bareMsP50"],
            figures["oursMsP50"],
            f"{figures['overheadRatio']:+.2%}",
            figures["overheadMsPerStep"],
            f"{figures['overheadRatioWithoutCodec']:+.2%}",
        ]
        for name, figures in result["cases"].items()
    ]
    headers = ["case", "steps", "bare ms", "ours ms", "overhead", "ms/step", "w/o codec"]
    heading = f"{result['size']}px, {result['steps']} steps, on {result['device']}"
    return heading + "\n" + table(headers, rows)


QUICK = {"steps": 4, "size": 64, "repeats": 2}


def run(*, quick: bool = False, **options: Any) -> dict[str, Any]:
    return run_measured(measure, render, QUICK, quick=quick, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None, help="default: best available")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    options = {"steps": args.steps, "size": args.size, "repeats": args.repeats}
    if args.device:
        options["device"] = args.device
    report(run(quick=args.quick, **({} if args.quick else options)), args.json)


if __name__ == "__main__":
    main()
