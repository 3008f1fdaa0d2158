"""Baseline A of bench/throughput.py: the pipeline in a plain loop, in child processes.

LoopChild(model_dir)            a loop process (`python -m bench.baseline_loop DIR`):
                                loads tiny-random, warms up, then answers "go N"
                                (N cheapest calls) and "twenty N" (N 20-step calls)
baseline_a(children, ...)       the loops side by side, then one alone, then its
                                20-step calls: rates, call times, CPU per call
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import CHEAPEST, reap
from bench.stats import summary
from project.localstack import ROOT


def serve(model_dir: Path) -> None:
    """A child process: load the model, warm it up and say "ready"; then answer
    "go N" (N cheapest calls) and "twenty N" (N 20-step calls) with their timings,
    one JSON line each; anything else ends it."""
    import torch

    from pipelines.models import ModelStore
    from pipelines.text_to_image import TextToImage, TextToImageParams

    pipeline = TextToImage.load("tiny-random", ModelStore(root=model_dir))
    spec: dict[str, Any] = CHEAPEST["imageGeneration"]
    params = TextToImageParams(
        prompt=spec["prompt"],
        width=spec["width"],
        height=spec["height"],
        steps=spec["steps"],
        refine_prompt=spec["refinePrompt"],
    )
    twenty = TextToImageParams(
        prompt=params.prompt,
        width=params.width,
        height=params.height,
        steps=20,
        refine_prompt=False,
    )

    def timed(each: TextToImageParams, count: int) -> dict[str, Any]:
        durations = []
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            begun = time.perf_counter()
            pipeline.run(each)
            if pipeline.diffusion.device.startswith("cuda"):
                torch.cuda.synchronize()
            durations.append((time.perf_counter() - begun) * 1000)
        return {
            "wallS": time.perf_counter() - started,
            "cpuS": time.process_time() - cpu,
            "callMs": durations,
        }

    for _ in range(3):  # warm-up: kernels, allocator, caches
        pipeline.run(params)
    print(json.dumps({"ready": True, "device": pipeline.diffusion.device}), flush=True)
    for line in sys.stdin:
        command, _, count = line.strip().partition(" ")
        if command == "go":
            print(json.dumps(timed(params, int(count))), flush=True)
        elif command == "twenty":
            print(json.dumps(timed(twenty, int(count))), flush=True)
        else:
            return


class LoopChild:
    """A pipeline loop in its own process (OMP_NUM_THREADS=1, as the workers run)."""

    def __init__(self, model_dir: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bench.baseline_loop", str(model_dir)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def send(self, command: str) -> None:
        assert self.popen.stdin
        self.popen.stdin.write(command + "\n")
        self.popen.stdin.flush()

    def call(self, command: str) -> dict[str, Any]:
        self.send(command)
        return self.answer()

    def answer(self) -> dict[str, Any]:
        assert self.popen.stdout
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError(f"pipeline loop exited ({self.popen.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(OSError):  # BrokenPipeError: it exited already
                self.send("exit")
            reap(self.popen, 10)


def baseline_a(
    children: Sequence[LoopChild], *, calls: int, parallel_calls: int, twenty_step_calls: int
) -> dict[str, Any]:
    """Baseline A: with several children, all loops side by side first
    (`parallel_calls` each; skipped at 0); then the first loop alone, then its
    20-step calls. Closes all children but the first (the caller's to close)."""
    try:
        device = [child.answer() for child in children][-1]["device"]
        side_by_side: dict[str, Any] | None = None
        if len(children) > 1 and parallel_calls > 0:
            for child in children:
                child.send(f"go {parallel_calls}")
            answers = [child.answer() for child in children]
            wall = max(answer["wallS"] for answer in answers)
            total = len(children) * parallel_calls
            side_by_side = {
                "processes": len(children),
                "calls": total,
                "wallS": round(wall, 3),
                "tasksPerS": round(total / wall, 2),
                "callMs": summary([ms for answer in answers for ms in answer["callMs"]]),
            }
        for child in children[1:]:
            child.close()
        children[0].send(f"go {calls}")
        alone = children[0].answer()
        children[0].send(f"twenty {twenty_step_calls}")
        twenty = children[0].answer()
    finally:
        for child in children[1:]:
            child.close()
    return {
        "device": device,
        "calls": calls,
        "wallS": round(alone["wallS"], 3),
        "tasksPerS": round(calls / alone["wallS"], 2),
        "callMs": summary(alone["callMs"]),
        "cpuMsPerCall": round(alone["cpuS"] / calls * 1000, 2),
        "twentyStepMs": summary(twenty["callMs"]),
        "sideBySide": side_by_side,
    }


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
