from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pipelines.errors import Cancelled, InvalidParameters, ModelNotAvailable, UnknownModel
from pipelines.models import ModelStore
from pipelines.progress import Progress
from pipelines.text_to_image import TextToImage, TextToImageParams


@pytest.fixture(scope="module")
def generator(model_store: ModelStore) -> TextToImage:
    return TextToImage.load("tiny-random", model_store, device="cpu")


def small(**overrides: object) -> TextToImageParams:
    values: dict[str, object] = {"prompt": "a red fox in snow", "width": 64, "height": 64}
    values.update(overrides)
    return TextToImageParams(steps=int(values.pop("steps", 6)), **values)  # type: ignore[arg-type]


def test_result_is_a_png_of_the_requested_size(generator: TextToImage) -> None:
    output = generator.run(small(width=96, height=64))
    image = Image.open(io.BytesIO(output.png))
    assert image.format == "PNG"
    assert image.size == (96, 64) == (output.width, output.height)


def test_progress_runs_through_stages_and_steps_in_order(generator: TextToImage) -> None:
    events: list[Progress] = []
    generator.run(small(steps=7), events.append)

    stages = [e.stage for e in events]
    assert stages[0] == "refining prompt"
    assert stages[-2:] == ["decoding", "encoding"]
    steps = [e.step for e in events if e.stage == "denoising"]
    assert steps == list(range(0, 8))
    assert {e.total_steps for e in events if e.stage == "denoising"} == {7}


def test_same_seed_gives_the_same_bytes(generator: TextToImage) -> None:
    first = generator.run(small(seed=1234))
    second = generator.run(small(seed=1234))
    other = generator.run(small(seed=1235))
    assert first.seed == second.seed == 1234
    assert first.png == second.png
    assert other.png != first.png


def test_seed_used_is_returned_and_reproduces_the_image(generator: TextToImage) -> None:
    first = generator.run(small())
    assert first.seed is not None and 0 <= first.seed < 2**31
    assert generator.run(small(seed=first.seed)).png == first.png


def test_cancel_mid_run_stops_at_once_without_decoding(
    generator: TextToImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes: list[object] = []
    vae = generator.pipe.vae
    real_decode = vae.decode
    monkeypatch.setattr(vae, "decode", lambda *a, **k: decodes.append(a) or real_decode(*a, **k))
    seen: list[Progress] = []

    def cancel_at_third_step(event: Progress) -> None:
        seen.append(event)
        if event.step == 3:
            raise Cancelled

    denoised: list[object] = []
    hook = generator.pipe.unet.register_forward_hook(lambda *_: denoised.append(None))
    try:
        with pytest.raises(Cancelled):
            generator.run(small(steps=50), cancel_at_third_step)
    finally:
        hook.remove()

    assert seen[-1].step == 3
    assert "decoding" not in [e.stage for e in seen]
    assert decodes == []
    # Counted, not timed: 3 of the 50 denoising steps ran, none after the cancel.
    assert len(denoised) == 3


def test_previews_come_every_k_steps_and_at_the_end(generator: TextToImage) -> None:
    events: list[Progress] = []
    generator.run(
        small(steps=7, previews=True, preview_every=3, width=512, height=256), events.append
    )
    with_preview = [e for e in events if e.preview is not None]
    assert [e.step for e in with_preview] == [3, 6, 7]
    assert all(e.preview.size == (256, 128) and e.preview.mode == "RGB" for e in with_preview)


def test_no_previews_unless_asked(generator: TextToImage) -> None:
    events: list[Progress] = []
    generator.run(small(), events.append)
    assert all(e.preview is None for e in events)


def test_prompt_used_is_the_refined_prompt(generator: TextToImage) -> None:
    output = generator.run(small(prompt="  a   fox\x00 ", style="photo"))
    assert output.prompt_used is not None and output.prompt_used.startswith("a fox, photograph")
    assert output.negative_prompt_used
    assert output.metadata["promptNotes"]


def test_unrefined_prompt_is_used_verbatim(generator: TextToImage) -> None:
    output = generator.run(small(prompt="a  fox", refine_prompt=False))
    assert output.prompt_used == "a  fox"
    assert output.negative_prompt_used is None


def test_demo_model_is_labelled_in_metadata(generator: TextToImage) -> None:
    metadata = generator.run(small()).metadata
    assert metadata["demo"] is True
    assert "random weights" in metadata["note"]
    assert metadata["model"] == "tiny-random"
    assert metadata["device"] == "cpu"
    assert set(metadata["timings"]) >= {"denoiseMs", "decodeMs", "totalMs"}


def test_tiny_model_is_saved_to_the_store_and_loads_back_offline(
    generator: TextToImage, model_store: ModelStore
) -> None:
    saved = model_store.folder("diffusers") / "tiny-random"
    assert generator.diffusion.source == str(saved)
    assert (saved / "model_index.json").is_file()
    assert (saved / "tokenizer" / "tokenizer.json").is_file()
    reloaded = TextToImage.load("tiny-random", model_store, device="cpu")
    assert reloaded.run(small(seed=7)).png == generator.run(small(seed=7)).png


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"width": 60}, "width"),
        ({"height": 0}, "height"),
        ({"steps": 0}, "steps"),
        ({"seed": -1}, "seed"),
        ({"prompt": "\x00 "}, "prompt"),
    ],
)
def test_bad_parameters_name_their_field(
    generator: TextToImage, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidParameters) as caught:
        generator.run(small(**overrides))
    assert caught.value.field == field


def test_missing_model_says_what_where_and_how(tmp_path: Path) -> None:
    store = ModelStore(root=tmp_path, offline=True)
    with pytest.raises(ModelNotAvailable) as caught:
        TextToImage.load("sd15", store, device="cpu")
    message = str(caught.value)
    assert "'sd15'" in message
    assert str(tmp_path / "diffusers" / "sd15") in message
    assert "python -m pipelines.fetch sd15" in message
    assert caught.value.code == "MODEL_NOT_AVAILABLE"


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="unknown model 'nope'"):
        TextToImage.load("nope", ModelStore(root=tmp_path), device="cpu")
