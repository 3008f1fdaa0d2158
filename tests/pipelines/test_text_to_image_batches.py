"""Several tasks' text-to-image runs as one diffusers call (`TextToImage.run_batch`)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import Cancelled, InvalidParameters
from pipelines.models import ModelStore
from pipelines.output import Output
from pipelines.progress import Progress, ignore_progress
from pipelines.text_to_image import TextToImage, TextToImageParams


@pytest.fixture(scope="module")
def generator(model_store: ModelStore) -> TextToImage:
    return TextToImage.load("tiny-random", model_store, device="cpu")


def job(prompt: str, seed: int, **overrides: object) -> TextToImageParams:
    values: dict[str, object] = {"prompt": prompt, "seed": seed, "width": 64, "height": 64}
    values.update(overrides)
    return TextToImageParams(steps=int(values.pop("steps", 5)), **values)  # type: ignore[arg-type]


JOBS = [
    job("a red fox in snow", 11),
    job("a lighthouse at dusk", 12, num_images=2, negative_prompt="blurry"),
    job("a bowl of ramen", 13, refine_prompt=False),
    job("a glass of water", 2**31 - 1, num_images=3),
]


def outputs(results: list[Output | Exception]) -> list[Output]:
    assert all(isinstance(result, Output) for result in results), results
    return [result for result in results if isinstance(result, Output)]


def images_of(output: Output) -> list[bytes]:
    return [output.png, *output.extra_pngs]


def test_each_task_of_an_exact_batch_gets_the_bytes_it_gets_alone(
    generator: TextToImage,
) -> None:
    alone = [generator.run(params) for params in JOBS]
    batched = outputs(generator.run_batch([(params, ignore_progress) for params in JOBS]))

    for single, member in zip(alone, batched, strict=True):
        assert images_of(member) == images_of(single)
        assert member.seeds == single.seeds
        assert member.prompt_used == single.prompt_used
        assert member.negative_prompt_used == single.negative_prompt_used
    assert batched[3].seeds == (2**31 - 1, 0, 1)  # wraps as alone
    assert batched[1].metadata["batch"] == {"tasks": 4, "images": 7, "exact": True}
    assert batched[1].metadata["numImages"] == 2
    assert "batch" not in alone[1].metadata


def test_a_batch_of_other_sizes_and_orders_changes_no_task_bytes(
    generator: TextToImage,
) -> None:
    pair = outputs(generator.run_batch([(JOBS[2], ignore_progress), (JOBS[0], ignore_progress)]))
    four = outputs(generator.run_batch([(params, ignore_progress) for params in JOBS]))
    assert images_of(pair[0]) == images_of(four[2])
    assert images_of(pair[1]) == images_of(four[0])


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_a_batch_with_whole_batch_kernels_differs_from_alone_only_by_rounding(
    generator: TextToImage,
) -> None:
    """`exact=False` promises the same picture within a few pixel levels, not bytes,
    and is deterministic for the same batch."""
    big = [job(params.prompt, params.seed or 0, width=128, height=128) for params in JOBS]
    alone = [generator.run(params) for params in big]
    fast = outputs(generator.run_batch([(p, ignore_progress) for p in big], exact=False))
    again = outputs(generator.run_batch([(p, ignore_progress) for p in big], exact=False))

    assert [images_of(output) for output in fast] == [images_of(output) for output in again]
    assert fast[0].metadata["batch"]["exact"] is False
    for single, member in zip(alone, fast, strict=True):
        for one, other in zip(images_of(single), images_of(member), strict=True):
            difference = np.abs(pixels(one) - pixels(other))
            assert difference.mean() < 0.05  # here: a few pixels off by one level
            assert difference.max() <= 4


class CancelAt:
    """A progress callback that raises `Cancelled` at denoising step `step`."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.events: list[Progress] = []

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        if event.stage == "denoising" and event.step == self.step:
            raise Cancelled


def test_cancelling_one_member_drops_only_its_output(generator: TextToImage) -> None:
    cancelled, others = CancelAt(2), [CancelAt(-1), CancelAt(-1)]
    params = [JOBS[0], JOBS[1], JOBS[2]]
    results = generator.run_batch(
        [(params[0], others[0]), (params[1], cancelled), (params[2], others[1])]
    )

    assert isinstance(results[1], Cancelled)
    assert [event.step for event in cancelled.events if event.stage == "denoising"] == [0, 1, 2]
    for index in (0, 2):
        member = results[index]
        assert isinstance(member, Output)
        assert images_of(member) == images_of(generator.run(params[index]))
    assert others[0].events[-1].stage == "encoding"
    assert [e.step for e in others[1].events if e.stage == "denoising"] == list(range(6))


def test_when_every_member_stops_the_call_stops_there(generator: TextToImage) -> None:
    first, second = CancelAt(1), CancelAt(3)
    results = generator.run_batch([(JOBS[0], first), (JOBS[2], second)])
    assert all(isinstance(result, Cancelled) for result in results)
    assert [e.step for e in second.events if e.stage == "denoising"] == [0, 1, 2, 3]
    assert not any(e.stage == "decoding" for e in second.events)


def test_a_member_with_bad_parameters_fails_alone(generator: TextToImage) -> None:
    bad = job("a red fox in snow", 1, steps=0)
    results = generator.run_batch([(bad, ignore_progress), (JOBS[0], ignore_progress)])
    assert isinstance(results[0], InvalidParameters) and results[0].field == "steps"
    assert isinstance(results[1], Output)
    assert images_of(results[1]) == images_of(generator.run(JOBS[0]))


def test_previews_are_each_members_own_first_image(generator: TextToImage) -> None:
    seen: dict[int, list[Progress]] = {0: [], 1: []}
    params = [job("a red fox", 3, previews=True, preview_every=5), job("a blue sea", 4)]
    generator.run_batch([(params[0], seen[0].append), (params[1], seen[1].append)])
    previews = [e.preview for e in seen[0] if e.preview is not None]
    assert len(previews) == 1 and previews[0].size == (64, 64)
    assert not any(e.preview is not None for e in seen[1])


def test_batch_key_is_what_a_call_must_share() -> None:
    key = TextToImage.batch_key
    base = job("a fox", 1)
    assert key(base) == key(job("another prompt", 9, num_images=3, negative_prompt="x"))
    assert key(base) == key(job("a fox", 1, previews=True, refine_prompt=False))
    for different in (
        job("a fox", 1, width=128),
        job("a fox", 1, steps=6),
        job("a fox", 1, guidance_scale=3.0),
        job("a fox", 1, scheduler="euler"),
        job("a fox", 1, loras=[{"name": "ink", "scale": 0.5}]),
    ):
        assert key(different) != key(base)
    assert key(job("a", 1, loras=[{"name": "a"}, {"name": "b", "scale": 0.5}])) == key(
        job("a", 1, loras=[{"name": "b", "scale": 0.5}, {"name": "a", "scale": 1.0}])
    )


def test_a_batch_report_hears_every_member_s_step_in_one_call_and_ends_whom_it_says(
    generator: TextToImage,
) -> None:
    """With `report`, each step's events of all live members arrive in one call (a
    worker writes them in one round trip), each member's in order; an exception
    returned for a member ends it alone, its output dropped, as its callback raising
    it would."""
    calls: list[list[tuple[int, str, int | None]]] = []

    def report(events: Sequence[tuple[int, Progress]]) -> list[BaseException | None]:
        told = [(index, event.stage, event.step) for index, event in events]
        calls.append(told)
        # Job 1 is cancelled as its step 2 is told.
        return [Cancelled() if (index, step) == (1, 2) else None for index, _, step in told]

    jobs = [JOBS[0], JOBS[2], JOBS[3]]
    results = generator.run_batch([(p, ignore_progress) for p in jobs], report=report)

    assert isinstance(results[1], Cancelled)
    first, last = results[0], results[2]
    assert isinstance(first, Output) and isinstance(last, Output)
    alone = outputs(generator.run_batch([(p, ignore_progress) for p in jobs]))
    assert images_of(first) == images_of(alone[0]) and images_of(last) == images_of(alone[2])
    steps = jobs[0].steps
    # One call per step while all three live, then without job 1; "decoding" after the
    # last step and "encoding" once the call returned, each in a call of its own.
    assert calls[0] == [(0, "denoising", 1), (1, "denoising", 1), (2, "denoising", 1)]
    assert calls[1] == [(0, "denoising", 2), (1, "denoising", 2), (2, "denoising", 2)]
    assert calls[2] == [(0, "denoising", 3), (2, "denoising", 3)]
    assert calls[-3] == [(0, "denoising", steps), (2, "denoising", steps)]
    assert calls[-2] == [(0, "decoding", steps), (2, "decoding", steps)]
    assert calls[-1] == [(0, "encoding", None), (2, "encoding", None)]
    assert len(calls) == steps + 2
