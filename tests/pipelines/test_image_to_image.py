"""Image-to-image, inpainting, several images per task and schedulers, on the tiny
random Stable Diffusion built locally (real diffusers code paths, random weights)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from pipelines.diffusion import StableDiffusion
from pipelines.errors import Cancelled, PipelineError
from pipelines.image_to_image import (
    ImageToImage,
    ImageToImageParams,
    Inpainting,
    InpaintingParams,
    output_size,
)
from pipelines.models import ModelStore
from pipelines.progress import Progress
from pipelines.schedulers import SCHEDULERS
from pipelines.text_to_image import TextToImage, TextToImageParams


@pytest.fixture(scope="module")
def weights(model_store: ModelStore) -> Iterator[StableDiffusion]:
    yield StableDiffusion.load("tiny-random", model_store, device="cpu")


def png(size: tuple[int, int] = (64, 64), seed: int = 3) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def mask(
    size: tuple[int, int] = (64, 64), box: tuple[int, int, int, int] = (16, 16, 48, 48)
) -> bytes:
    drawn = Image.new("L", size, 0)
    drawn.paste(255, box)
    buffer = io.BytesIO()
    drawn.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def edit(**overrides: object) -> ImageToImageParams:
    values: dict[str, object] = {"prompt": "a fox", "image": png(), "steps": 5, "seed": 11}
    values.update(overrides)
    return ImageToImageParams(**values)  # type: ignore[arg-type]


def inpaint(**overrides: object) -> InpaintingParams:
    values: dict[str, object] = {"prompt": "a fox", "image": png(), "mask": mask(), "steps": 4}
    values.update(seed=5, **overrides)
    return InpaintingParams(**values)  # type: ignore[arg-type]


def test_the_three_kinds_share_one_set_of_weights(weights: StableDiffusion) -> None:
    text = weights.pipe_for("text-to-image")
    for mode in ("image-to-image", "inpainting"):
        view = weights.pipe_for(mode)
        assert view is not text and view is weights.pipe_for(mode)
        assert view.unet is text.unet and view.vae is text.vae
        assert view.text_encoder is text.text_encoder


def test_image_to_image_keeps_the_input_size_and_says_how_far_it_went(
    weights: StableDiffusion,
) -> None:
    events: list[Progress] = []
    output = ImageToImage(weights).run(edit(image=png((96, 64)), strength=0.6), events.append)
    assert (output.width, output.height) == (96, 64)
    assert output.metadata["kind"] == "image-to-image"
    assert output.metadata["strength"] == 0.6 and output.metadata["resized"] is False
    denoising = [e for e in events if e.stage == "denoising"]
    assert [e.step for e in denoising] == [0, 1, 2, 3]  # 5 steps x 0.6 = 3 steps run
    assert {e.total_steps for e in denoising} == {3}
    assert events[0].stage == "decoding input"


def test_strength_changes_the_result_and_seeds_reproduce_it(weights: StableDiffusion) -> None:
    runner = ImageToImage(weights)
    gentle, again = runner.run(edit(strength=0.4)), runner.run(edit(strength=0.4))
    strong = runner.run(edit(strength=1.0))
    assert gentle.png == again.png and gentle.png != strong.png


def test_an_odd_size_is_rounded_to_a_multiple_of_8_and_said_so(weights: StableDiffusion) -> None:
    output = ImageToImage(weights).run(edit(image=png((70, 61))))
    assert (output.width, output.height) == (72, 64)
    assert output.metadata["resized"] is True and output.metadata["inputSize"] == [70, 61]


@pytest.mark.parametrize(
    ("size", "bounds", "expected"),
    [
        ((512, 512), (64, 2048), (512, 512)),
        ((513, 259), (64, 2048), (512, 256)),
        ((4000, 2000), (64, 2048), (2048, 1024)),
        ((40, 80), (64, 2048), (64, 128)),
    ],
)
def test_output_size_fits_the_bounds_in_multiples_of_8(
    size: tuple[int, int], bounds: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert output_size(size, *bounds) == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strength": 0.0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"strength": 0.1, "steps": 5}, "strength"),  # no step would run
        ({"image": b"not an image"}, "image"),
        ({"num_images": 0}, "numImages"),
        ({"scheduler": "warp-drive"}, "scheduler"),
    ],
)
def test_bad_parameters_name_their_field(
    weights: StableDiffusion, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(PipelineError) as raised:
        ImageToImage(weights).run(edit(**overrides))
    assert raised.value.field == field


def test_inpainting_keeps_every_pixel_outside_the_mask(weights: StableDiffusion) -> None:
    original = pixels(png())
    output = Inpainting(weights).run(inpaint(num_images=2))
    kept = np.asarray(Image.open(io.BytesIO(mask())).convert("L")) == 0
    for data in (output.png, *output.extra_pngs):
        made = pixels(data)
        assert np.array_equal(made[kept], original[kept])  # bit for bit
        assert not np.array_equal(made[~kept], original[~kept])  # the rest was repainted
    assert output.metadata["kind"] == "inpainting"
    assert "compositeMs" in output.metadata["timings"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mask": mask(size=(32, 32), box=(0, 0, 8, 8))}, "mask"),
        ({"mask": mask(box=(0, 0, 0, 0))}, "mask"),  # all black
        ({"mask": b"\x89PNG broken"}, "mask"),
    ],
    ids=["other-size", "all-black", "not-an-image"],
)
def test_a_mask_that_cannot_be_used_is_refused_naming_it(
    weights: StableDiffusion, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(PipelineError) as raised:
        Inpainting(weights).run(inpaint(**overrides))
    assert raised.value.field == field


def test_several_images_share_the_steps_and_each_reproduces_alone(
    weights: StableDiffusion,
) -> None:
    generator = TextToImage(weights)
    events: list[Progress] = []
    several = generator.run(
        TextToImageParams(prompt="x", width=64, height=64, steps=4, seed=40, num_images=3),
        events.append,
    )
    assert several.seeds == (40, 41, 42) and several.seed == 40
    assert len(several.extra_pngs) == 2
    assert [e.step for e in events if e.stage == "denoising"] == [0, 1, 2, 3, 4]
    images = [several.png, *several.extra_pngs]
    assert len(set(images)) == 3
    for seed, expected in zip(several.seeds, images, strict=True):
        alone = generator.run(
            TextToImageParams(prompt="x", width=64, height=64, steps=4, seed=seed)
        )
        assert alone.png == expected


def test_several_edited_images_reproduce_alone_too(weights: StableDiffusion) -> None:
    runner = ImageToImage(weights)
    several = runner.run(edit(num_images=2, seed=70))
    alone = runner.run(edit(seed=71))
    assert several.extra_pngs[0] == alone.png


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_each_scheduler_runs_without_reloading_the_weights(
    weights: StableDiffusion, name: str
) -> None:
    unet = weights.pipe_for("text-to-image").unet
    output = TextToImage(weights).run(
        TextToImageParams(prompt="x", width=64, height=64, steps=3, seed=1, scheduler=name)
    )
    assert output.metadata["scheduler"] == name
    assert weights.pipe_for("text-to-image").unet is unet


def test_a_run_without_a_scheduler_uses_the_models_own_again(weights: StableDiffusion) -> None:
    generator = TextToImage(weights)
    params = TextToImageParams(prompt="x", width=64, height=64, steps=3, seed=1)
    before = generator.run(params)
    generator.run(
        TextToImageParams(prompt="x", width=64, height=64, steps=3, seed=1, scheduler="ddim")
    )
    after = generator.run(params)
    assert before.png == after.png
    assert before.metadata["scheduler"] == after.metadata["scheduler"] == "euler"


def test_cancel_stops_an_edit_at_the_next_step(weights: StableDiffusion) -> None:
    def cancel_at_two(event: Progress) -> None:
        if event.stage == "denoising" and event.step == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        Inpainting(weights).run(inpaint(steps=8), cancel_at_two)


def test_without_a_seed_the_images_are_numbered_from_a_random_one(
    weights: StableDiffusion,
) -> None:
    several = TextToImage(weights).run(
        TextToImageParams(prompt="x", width=64, height=64, steps=2, num_images=3)
    )
    first = several.seeds[0]
    assert several.seeds == tuple((first + k) % 2**31 for k in range(3))
