"""LoRA adapters on the tiny random Stable Diffusion: real peft adapters built at test
time (tests/pipelines/tiny_lora.py), loaded by diffusers from a model store."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipelines import tiny_random
from pipelines.diffusion import StableDiffusion
from pipelines.errors import Cancelled, InvalidParameters, ModelNotAvailable
from pipelines.image_to_image import ImageToImage, ImageToImageParams, Inpainting, InpaintingParams
from pipelines.lora import MAX_LORAS, Lora, LoraAdapters, available, check_loras
from pipelines.models import ModelStore
from pipelines.progress import Progress
from pipelines.text_to_image import TextToImage, TextToImageParams
from tests.pipelines import tiny_lora


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """tiny-random and two adapters for it: `fox` (denoiser only) and `ink.v2`
    (denoiser and text encoder; a name with a dot, which peft could not take)."""
    root = tmp_path_factory.mktemp("lora-store")
    model = tiny_random.build(root / "diffusers" / tiny_random.NAME)
    tiny_lora.build(model, root / "lora" / "fox.safetensors", seed=1)
    tiny_lora.build(model, root / "lora" / "ink.v2.safetensors", seed=2, text_encoder=True)
    return ModelStore(root=root, offline=True)


@pytest.fixture(scope="module")
def weights(store: ModelStore) -> StableDiffusion:
    return StableDiffusion.load(tiny_random.NAME, store, device="cpu")


@pytest.fixture
def fresh(store: ModelStore) -> StableDiffusion:
    """Weights no adapter was ever loaded into."""
    return StableDiffusion.load(tiny_random.NAME, store, device="cpu")


def generate(weights: StableDiffusion, *loras: Any, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "prompt": "a fox",
        "width": 64,
        "height": 64,
        "steps": 3,
        "seed": 4,
        "refine_prompt": False,
        "loras": list(loras),
    }
    values.update(overrides)
    return TextToImage(weights).run(TextToImageParams(**values))


def lora(name: str, scale: float = 1.0) -> dict[str, Any]:
    """As a task's stored params hold it."""
    return {"name": name, "scale": scale}


def png(size: tuple[int, int] = (64, 64), seed: int = 3) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_lora_changes_the_output_and_the_next_run_without_it_is_the_base_byte_for_byte(
    fresh: StableDiffusion,
) -> None:
    base = generate(fresh)  # before any adapter exists in the weights
    with_fox = generate(fresh, lora("fox"))
    after = generate(fresh)

    assert with_fox.png != base.png
    assert after.png == base.png
    assert with_fox.metadata["loras"] == [{"name": "fox", "scale": 1.0}]
    assert after.metadata["loras"] == []
    assert "lorasMs" in with_fox.metadata["timings"]


def test_every_image_of_a_batch_gets_the_adapter_and_then_none_does(
    weights: StableDiffusion,
) -> None:
    base = generate(weights, num_images=2)
    with_ink = generate(weights, lora("ink.v2"), num_images=2)
    after = generate(weights, num_images=2)
    assert with_ink.png != base.png and with_ink.extra_pngs[0] != base.extra_pngs[0]
    assert (after.png, after.extra_pngs) == (base.png, base.extra_pngs)


def test_the_scale_sets_how_strongly_it_applies(weights: StableDiffusion) -> None:
    base = generate(weights).png
    made = {scale: generate(weights, lora("fox", scale)).png for scale in (0.0, 0.5, 1.0, -1.0)}
    assert made[0.0] == base  # on, at no weight: the base model's output
    assert len({base, made[0.5], made[1.0], made[-1.0]}) == 4


def test_several_loras_combine(weights: StableDiffusion) -> None:
    base = generate(weights).png
    fox = generate(weights, lora("fox")).png
    ink = generate(weights, lora("ink.v2")).png
    both = generate(weights, lora("fox"), lora("ink.v2"))
    assert len({base, fox, ink, both.png}) == 4
    assert both.metadata["loras"] == [lora("fox"), lora("ink.v2")]
    # Each at zero weight leaves the other alone.
    assert generate(weights, lora("fox"), lora("ink.v2", 0.0)).png == fox
    assert generate(weights).png == base


def test_a_loaded_lora_is_not_loaded_again(
    fresh: StableDiffusion, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = fresh.pipe_for("text-to-image")
    loads: list[str] = []
    load = pipe.load_lora_weights

    def counting(path: str, **kwargs: Any) -> None:
        loads.append(Path(path).name)
        load(path, **kwargs)

    monkeypatch.setattr(pipe, "load_lora_weights", counting)
    generate(fresh, lora("fox"))
    generate(fresh, lora("fox", 0.5))
    generate(fresh)
    generate(fresh, lora("ink.v2"), lora("fox"))
    ImageToImage(fresh).run(
        ImageToImageParams(prompt="a fox", image=png(), steps=4, loras=[lora("fox")])
    )
    assert loads == ["fox.safetensors", "ink.v2.safetensors"]
    assert fresh.loras.loaded == ("ink.v2", "fox")  # least recently used first


def test_past_its_bound_a_worker_unloads_the_least_recently_used_adapter(
    fresh: StableDiffusion, store: ModelStore
) -> None:
    folder = store.folder("lora")
    names = [f"copy{index}" for index in range(MAX_LORAS + 1)]
    for name in names:
        shutil.copy(folder / "fox.safetensors", folder / f"{name}.safetensors")
    fresh.loras = LoraAdapters(store, max_loaded=MAX_LORAS)
    base = generate(fresh).png
    for name in names[:MAX_LORAS]:
        generate(fresh, lora(name))
    generate(fresh, lora(names[0]))  # used again: copy1 is now the least recent
    generate(fresh, lora(names[-1]))

    assert set(fresh.loras.loaded) == set(names) - {"copy1"}
    (in_unet,) = fresh.pipe_for("text-to-image").get_list_adapters().values()
    assert len(in_unet) == MAX_LORAS
    assert generate(fresh).png == base


def test_image_to_image_and_inpainting_run_with_the_adapter_on_the_shared_weights(
    weights: StableDiffusion,
) -> None:
    def edit(*loras: Any) -> bytes:
        params = ImageToImageParams(prompt="a fox", image=png(), steps=5, seed=11, loras=loras)
        return ImageToImage(weights).run(params).png

    def inpaint(*loras: Any) -> bytes:
        mask = Image.new("L", (64, 64), 0)
        mask.paste(255, (16, 16, 48, 48))
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        params = InpaintingParams(
            prompt="a fox", image=png(), mask=buffer.getvalue(), steps=4, seed=5, loras=loras
        )
        return Inpainting(weights).run(params).png

    for run in (edit, inpaint):
        base = run()
        assert run(lora("fox")) != base
        assert run() == base
    # Loaded through the text-to-image pipeline, whose modules the views share.
    assert weights.pipe_for("image-to-image").unet is weights.pipe_for("text-to-image").unet


def test_a_cancelled_run_leaves_the_adapter_off(weights: StableDiffusion) -> None:
    base = generate(weights).png

    def cancel_at_first_step(event: Progress) -> None:
        if event.stage == "denoising" and event.step == 1:
            raise Cancelled

    params = TextToImageParams(
        prompt="a fox", width=64, height=64, steps=3, seed=4, loras=[lora("fox")]
    )
    with pytest.raises(Cancelled):
        TextToImage(weights).run(params, cancel_at_first_step)
    assert generate(weights).png == base


def test_an_unknown_lora_fails_model_not_available_naming_it_and_its_place(
    weights: StableDiffusion,
) -> None:
    base = generate(weights).png
    with pytest.raises(ModelNotAvailable) as raised:
        generate(weights, lora("fox"), lora("no-such-lora"))
    assert raised.value.code == "MODEL_NOT_AVAILABLE"
    assert raised.value.field == "loras.1.name"
    assert "no-such-lora" in raised.value.public_message
    assert "/" not in raised.value.public_message  # no server path for clients
    assert generate(weights).png == base  # fox, loaded before the failure, is off


@pytest.mark.parametrize("name", ["../diffusers/tiny-random/unet/config", "/etc/passwd", ".fox"])
def test_a_name_outside_the_lora_folder_is_not_available(
    weights: StableDiffusion, name: str
) -> None:
    with pytest.raises(ModelNotAvailable):
        generate(weights, lora(name))


def test_a_lora_removed_from_the_store_is_no_longer_run(
    weights: StableDiffusion, store: ModelStore
) -> None:
    folder = store.folder("lora")
    shutil.copy(folder / "fox.safetensors", folder / "brief.safetensors")
    assert generate(weights, lora("brief")).png == generate(weights, lora("fox")).png
    (folder / "brief.safetensors").unlink()
    with pytest.raises(ModelNotAvailable, match="brief"):
        generate(weights, lora("brief"))


def test_a_replaced_file_is_loaded_again(weights: StableDiffusion, store: ModelStore) -> None:
    folder = store.folder("lora")
    shutil.copy(folder / "fox.safetensors", folder / "swapped.safetensors")
    assert generate(weights, lora("swapped")).png == generate(weights, lora("fox")).png
    shutil.copy(folder / "ink.v2.safetensors", folder / "swapped.safetensors")
    assert generate(weights, lora("swapped")).png == generate(weights, lora("ink.v2")).png


def test_a_file_that_is_no_lora_fails_without_showing_the_path(
    weights: StableDiffusion, store: ModelStore
) -> None:
    base = generate(weights).png
    (store.folder("lora") / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidParameters) as raised:
        generate(weights, lora("broken"))
    assert raised.value.field == "loras.0.name"
    assert str(store.root) not in raised.value.public_message
    assert str(store.root) in raised.value.message  # operators see where
    assert generate(weights).png == base


@pytest.mark.parametrize(
    ("loras", "field"),
    [
        ([Lora(f"l{index}") for index in range(MAX_LORAS + 1)], "loras"),
        ([Lora("fox", 2.5)], "loras.0.scale"),
        ([Lora("fox"), Lora("ink", -2.01)], "loras.1.scale"),
        ([Lora("fox", float("nan"))], "loras.0.scale"),
        ([Lora("fox", float("inf"))], "loras.0.scale"),
        ([Lora("fox"), Lora("fox", 0.5)], "loras.1.name"),
    ],
)
def test_bounds_on_loras_name_the_field(loras: list[Lora], field: str) -> None:
    with pytest.raises(InvalidParameters) as raised:
        check_loras(loras)
    assert raised.value.field == field


def test_bounds_hold_at_their_ends() -> None:
    check_loras([Lora(f"l{index}", 2.0 if index % 2 else -2.0) for index in range(MAX_LORAS)])


def test_available_lists_the_adapter_files_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "lora"
    folder.mkdir()
    for name in ("a.safetensors", "b.v2.safetensors", ".hidden.safetensors", "notes.txt"):
        (folder / name).write_bytes(b"x")
    (folder / "dir.safetensors").mkdir()
    assert available(ModelStore(root=tmp_path)) == {"a", "b.v2"}
    assert available(ModelStore(root=tmp_path / "empty")) == frozenset()


@pytest.fixture
def no_store_weights(store: ModelStore) -> Iterator[StableDiffusion]:
    yield StableDiffusion(
        StableDiffusion.load(tiny_random.NAME, store, device="cpu").pipe_for("text-to-image"),
        model=tiny_random.NAME,
        source="test",
        device="cpu",
    )


def test_weights_without_a_store_have_no_adapters(no_store_weights: StableDiffusion) -> None:
    assert no_store_weights.loras.available() == frozenset()
    with pytest.raises(ModelNotAvailable):
        generate(no_store_weights, lora("fox"))
