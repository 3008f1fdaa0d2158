"""`ResultMetadata`: the typed view of a result's `metadata` JSON.

The JSON stays as it is (every key a pipeline wrote, for clients that read it
whole); this type names the keys clients use most, so typed clients (codegen) get
types instead of `unknown`. A key a kind does not write is null (or empty, for
lists), so one fragment serves every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry


@strawberry.type(description="A LoRA a result was made with.")
class LoraUsed:
    name: str
    scale: float


@strawberry.type(description="How long one phase of a run took.")
class PhaseTiming:
    phase: str = strawberry.field(
        description='e.g. "load", "refine", "denoise", "decode", "encode"; "total" is the run.'
    )
    ms: float


@strawberry.type(description="How many tasks and images shared the pipeline call that made it.")
class BatchInfo:
    tasks: int
    images: int
    exact: bool = strawberry.field(
        description="True: each image is the bytes it would be alone (image by image); "
        "false: batched kernels, within rounding of that."
    )


@strawberry.type(
    description="The result's metadata, typed: the fields of the `metadata` JSON that "
    "clients use most. Null where the task's kind does not report one."
)
class ResultMetadata:
    model: str | None = strawberry.field(description="The model's configured name.")
    device: str | None = strawberry.field(description='Where it ran: "cuda", "cpu", "mps"...')
    dtype: str | None
    pipeline: str | None = strawberry.field(description="The diffusers pipeline class.")
    scheduler: str | None
    steps: int | None
    guidance_scale: float | None
    num_images: int | None
    strength: float | None = strawberry.field(description="Image-to-image: how much was redrawn.")
    prompt_notes: list[str] = strawberry.field(
        description="How prompt refining changed the prompt, if it did."
    )
    loras: list[LoraUsed]
    timings: list[PhaseTiming] = strawberry.field(description="In the order they ran; total last.")
    nsfw_content_detected: bool | None = strawberry.field(
        description="The safety checker's verdict on the first image, where the model has one."
    )
    batch: BatchInfo | None = strawberry.field(
        description="Text-to-image: the pipeline call it shared (see ATELIER_MAX_BATCH)."
    )
    attempts: int | None = strawberry.field(description="The run that made it (1 = the first).")
    engine: str | None = strawberry.field(description="Face swap: the swapping model.")
    faces_in_source: int | None
    faces_in_target: int | None
    faces_swapped: int | None
    demo: bool = strawberry.field(
        description="True when a stand-in model with random weights made it (not a real image)."
    )


def result_metadata(metadata: Mapping[str, Any]) -> ResultMetadata:
    def text(key: str) -> str | None:
        value = metadata.get(key)
        return None if value is None else str(value)

    def number(key: str, kind: type[int] | type[float]) -> Any:
        value = metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return kind(value)

    batch = metadata.get("batch")
    return ResultMetadata(
        model=text("model"),
        device=text("device"),
        dtype=text("dtype"),
        pipeline=text("pipeline"),
        scheduler=text("scheduler"),
        steps=number("steps", int),
        guidance_scale=number("guidanceScale", float),
        num_images=number("numImages", int),
        strength=number("strength", float),
        prompt_notes=[str(note) for note in metadata.get("promptNotes") or ()],
        loras=[
            LoraUsed(name=str(lora["name"]), scale=float(lora["scale"]))
            for lora in metadata.get("loras") or ()
        ],
        timings=_timings(metadata.get("timings") or {}),
        nsfw_content_detected=metadata.get("nsfwContentDetected"),
        batch=(
            BatchInfo(tasks=batch["tasks"], images=batch["images"], exact=bool(batch["exact"]))
            if isinstance(batch, Mapping)
            else None
        ),
        attempts=number("attempts", int),
        engine=text("engine"),
        faces_in_source=number("facesInSource", int),
        faces_in_target=number("facesInTarget", int),
        faces_swapped=number("swapped", int),
        demo=bool(metadata.get("demo", False)),
    )


def _timings(timings: Mapping[str, Any]) -> list[PhaseTiming]:
    """`{"denoiseMs": 812.5, ..., "totalMs": 900.1}` as phases, total last."""
    phases = [
        PhaseTiming(phase=key.removesuffix("Ms"), ms=float(ms))
        for key, ms in timings.items()
        if key.endswith("Ms") and key != "totalMs"
    ]
    if "totalMs" in timings:
        phases.append(PhaseTiming(phase="total", ms=float(timings["totalMs"])))
    return phases
