"""The face-swap pipeline against insightface's and yuface's real code paths.

The inswapper engine runs tiny stand-in models (`tiny_insightface`) through
insightface's own FaceAnalysis, SCRFD, ArcFaceONNX and INSwapper: bright 32-pixel
squares on black are the "faces". The classical engine runs on real photographs
shipped inside scikit-image (Eileen Collins, the cameraman), detected by YuNet.
"""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as photos

from pipelines import face_swap_models
from pipelines.downloads import FetchFailed
from pipelines.errors import (
    Cancelled,
    FaceIndexOutOfRange,
    InvalidImage,
    ModelNotAvailable,
    NoFaceFound,
    UnknownModel,
)
from pipelines.face_swap import FaceSwap, FaceSwapParams
from pipelines.faces import YuNetDetector
from pipelines.images import encode_png
from pipelines.models import ModelStore
from pipelines.progress import Progress
from tests.pipelines import tiny_insightface as tiny

# Every test image is 320×160, so SCRFD scales it by exactly 2 and a 32-pixel square
# fills one detector window.
SIZE = (320, 160)
SIDE = 32
LEFT, RIGHT = (48, 64), (208, 64)  # top-left corners
# The left face is dimmer, so the detector scores the right one higher: an index
# that still means "the left one" proves the ordering is by position.
DIM, BRIGHT = (200, 200, 200), (255, 255, 255)
# Far enough from a face that no engine may touch the pixel.
MARGIN = 16


def squares(*faces: tuple[tuple[int, int], tuple[int, int, int]]) -> np.ndarray:
    image = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)
    for (x, y), colour in faces:
        image[y : y + SIDE, x : x + SIDE] = colour
    return image


def png(image: np.ndarray) -> bytes:
    return encode_png(Image.fromarray(image))


def pixels(png_bytes: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png_bytes))
    assert image.mode == "RGB"
    return np.asarray(image)


def box_change(before: np.ndarray, after: np.ndarray, corner: tuple[int, int]) -> float:
    """Mean absolute change inside the face square at `corner`."""
    x, y = corner
    region = (slice(y, y + SIDE), slice(x, x + SIDE))
    return float(np.abs(after[region].astype(int) - before[region].astype(int)).mean())


def far_from(corners: list[tuple[int, int]], shape: tuple[int, ...], margin: int = MARGIN):
    """A mask of pixels at least `margin` away from every face square."""
    mask = np.ones(shape[:2], dtype=bool)
    for x, y in corners:
        mask[max(0, y - margin) : y + SIDE + margin, max(0, x - margin) : x + SIDE + margin] = False
    return mask


TWO_FACES = squares((LEFT, DIM), (RIGHT, BRIGHT))
ONE_FACE = squares((LEFT, (255, 190, 120)))
NO_FACE = squares()


def make_store(root: Path, *, detector: bool, recognizer: bool, swapper: bool) -> ModelStore:
    store = ModelStore(root=root)
    folder = store.folder("insightface")
    if detector or recognizer:
        tiny.write_buffalo(folder / "buffalo_l", detector=detector, recognizer=recognizer)
    if swapper:
        tiny.write_swapper(folder / tiny.SWAPPER_FILE)
    return store


@pytest.fixture(scope="session")
def inswapper(tmp_path_factory: pytest.TempPathFactory) -> FaceSwap:
    root = tmp_path_factory.mktemp("insightface_store")
    return FaceSwap.load(None, make_store(root, detector=True, recognizer=True, swapper=True))


@pytest.fixture(scope="session")
def classical(tmp_path_factory: pytest.TempPathFactory) -> FaceSwap:
    """No insightface models at all: YuNet and the classical engine."""
    return FaceSwap.load(None, ModelStore(root=tmp_path_factory.mktemp("empty_store")))


# -- the inswapper engine ------------------------------------------------------------


def test_inswapper_swaps_every_target_face_and_nothing_far_from_them(inswapper: FaceSwap) -> None:
    output = inswapper.run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES)))

    result = pixels(output.png)
    assert (output.width, output.height) == SIZE
    assert result.shape == TWO_FACES.shape
    assert box_change(TWO_FACES, result, LEFT) > 20
    assert box_change(TWO_FACES, result, RIGHT) > 20
    outside = far_from([LEFT, RIGHT], result.shape)
    assert np.array_equal(result[outside], TWO_FACES[outside])
    metadata = output.metadata
    assert metadata["engine"] == "inswapper"
    assert metadata["detector"] == "scrfd"
    assert metadata["device"] == "cpu"
    assert metadata["providers"] == ["CPUExecutionProvider"]
    assert (metadata["facesInSource"], metadata["facesInTarget"], metadata["swapped"]) == (1, 2, 2)
    assert set(metadata["timings"]) == {"decodeMs", "detectMs", "swapMs", "encodeMs", "totalMs"}


@pytest.mark.parametrize(
    ("index", "changed", "kept"), [(0, LEFT, RIGHT), (1, RIGHT, LEFT)], ids=["left", "right"]
)
def test_target_face_index_swaps_only_that_face_counting_left_to_right(
    inswapper: FaceSwap, index: int, changed: tuple[int, int], kept: tuple[int, int]
) -> None:
    output = inswapper.run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES), target_face_index=index))

    result = pixels(output.png)
    assert box_change(TWO_FACES, result, changed) > 20
    untouched = far_from([changed], result.shape)
    assert np.array_equal(result[untouched], TWO_FACES[untouched])
    assert box_change(TWO_FACES, result, kept) == 0
    assert output.metadata["swapped"] == 1


def test_source_face_index_counts_left_to_right(inswapper: FaceSwap) -> None:
    left_colour, right_colour = (255, 210, 170), (255, 255, 255)
    both = squares((LEFT, left_colour), (RIGHT, right_colour))
    only_left = squares((LEFT, left_colour))
    only_right = squares((RIGHT, right_colour))

    def swap_from(source: np.ndarray, index: int = 0) -> np.ndarray:
        params = FaceSwapParams(png(source), png(TWO_FACES), source_face_index=index)
        return pixels(inswapper.run(params).png)

    assert np.array_equal(swap_from(both, 0), swap_from(only_left))
    assert np.array_equal(swap_from(both, 1), swap_from(only_right))
    assert not np.array_equal(swap_from(only_left), swap_from(only_right))


def test_no_face_in_source_raises_no_face_found_for_the_source(inswapper: FaceSwap) -> None:
    with pytest.raises(NoFaceFound) as caught:
        inswapper.run(FaceSwapParams(png(NO_FACE), png(TWO_FACES)))

    assert caught.value.field == "sourceImage"
    assert "source" in caught.value.message
    assert caught.value.code == "NO_FACE_FOUND"


def test_no_face_in_target_raises_no_face_found_for_the_target(inswapper: FaceSwap) -> None:
    with pytest.raises(NoFaceFound) as caught:
        inswapper.run(FaceSwapParams(png(ONE_FACE), png(NO_FACE)))

    assert caught.value.field == "targetImage"
    assert "target" in caught.value.message


@pytest.mark.parametrize(
    ("params", "field", "count"),
    [
        ({"source_face_index": 1}, "sourceFaceIndex", "1 face "),
        ({"source_face_index": -1}, "sourceFaceIndex", "1 face "),
        ({"target_face_index": 2}, "targetFaceIndex", "2 faces"),
    ],
    ids=["source-past-end", "source-negative", "target-past-end"],
)
def test_face_index_out_of_range_says_how_many_faces_were_found(
    inswapper: FaceSwap, params: dict[str, int], field: str, count: str
) -> None:
    with pytest.raises(FaceIndexOutOfRange) as caught:
        inswapper.run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES), **params))

    assert caught.value.field == field
    assert count in caught.value.message


def test_progress_reports_each_stage_in_order_and_a_step_per_target_face(
    inswapper: FaceSwap,
) -> None:
    reports: list[Progress] = []

    inswapper.run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES)), progress=reports.append)

    stages = [report.stage for report in reports]
    assert list(dict.fromkeys(stages)) == [
        "decoding input",
        "detecting faces",
        "swapping faces",
        "encoding",
    ]
    steps = [(r.step, r.total_steps) for r in reports if r.stage == "swapping faces"]
    assert steps == [(0, 2), (1, 2), (2, 2)]


def test_cancel_while_swapping_stops_before_any_face_is_swapped(
    inswapper: FaceSwap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insightface.model_zoo.inswapper import INSwapper

    swaps: list[object] = []
    real_get = INSwapper.get
    monkeypatch.setattr(
        INSwapper, "get", lambda self, *a, **k: swaps.append(a) or real_get(self, *a, **k)
    )
    stages: list[str] = []

    def cancel_at_swapping(report: Progress) -> None:
        stages.append(report.stage)
        if report.stage == "swapping faces":
            raise Cancelled

    with pytest.raises(Cancelled):
        inswapper.run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES)), progress=cancel_at_swapping)

    assert stages == ["decoding input", "detecting faces", "swapping faces"]
    assert swaps == []


@pytest.mark.parametrize("field", ["sourceImage", "targetImage"])
def test_unreadable_image_raises_invalid_image_naming_its_field(
    inswapper: FaceSwap, field: str
) -> None:
    good, bad = png(TWO_FACES), b"\x89PNG\r\n\x1a\n not really"
    params = FaceSwapParams(bad, good) if field == "sourceImage" else FaceSwapParams(good, bad)

    with pytest.raises(InvalidImage) as caught:
        inswapper.run(params)

    assert caught.value.field == field


# -- what the store holds decides the engine ------------------------------------------


def test_inswapper_without_buffalo_l_raises_model_not_available_with_path_and_fix(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path, detector=False, recognizer=False, swapper=True)

    with pytest.raises(ModelNotAvailable) as caught:
        FaceSwap.load(None, store)

    message = caught.value.message
    assert str(store.folder("insightface") / "buffalo_l") in message
    assert "python -m pipelines.fetch buffalo_l" in message


def test_inswapper_with_buffalo_l_lacking_its_recognizer_names_what_is_missing(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path, detector=True, recognizer=False, swapper=True)

    with pytest.raises(ModelNotAvailable, match="no face recognition model"):
        FaceSwap.load(None, store)


def test_without_inswapper_the_buffalo_l_detector_drives_the_classical_engine(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path, detector=True, recognizer=True, swapper=False)

    output = FaceSwap.load(None, store).run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES)))

    assert output.metadata["engine"] == "classical"
    assert output.metadata["detector"] == "scrfd"
    assert output.metadata["swapped"] == 2
    assert (output.width, output.height) == SIZE


def test_default_is_the_one_model_name_and_any_other_raises_unknown_model(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    store = ModelStore(root=tmp_path)

    output = FaceSwap.load("default", store).run(FaceSwapParams(png(astronaut), png(astronaut)))

    assert output.metadata["engine"] == "classical"
    with pytest.raises(UnknownModel, match=r"'inswapper'.*'default'") as caught:
        FaceSwap.load("inswapper", store)
    assert caught.value.field == "model"


# -- the classical engine on real faces ------------------------------------------------


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return photos.astronaut()  # Eileen Collins, facing the camera


@pytest.fixture(scope="module")
def cameraman() -> np.ndarray:
    return np.stack([photos.camera()] * 3, axis=-1)  # greyscale, head turned


def test_yunet_landmarks_come_in_insightface_order(astronaut: np.ndarray) -> None:
    (face,) = YuNetDetector().detect(np.ascontiguousarray(astronaut[:, :, ::-1]))

    left_eye, right_eye, nose, left_mouth, right_mouth = face.kps
    x1, y1, x2, y2 = face.bbox
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_mouth[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
    assert np.all((face.kps >= (x1, y1)) & (face.kps <= (x2, y2)))
    assert 0.5 < face.det_score <= 1


def test_classical_engine_swaps_a_real_face_with_yunet(
    classical: FaceSwap, astronaut: np.ndarray, cameraman: np.ndarray
) -> None:
    output = classical.run(FaceSwapParams(png(astronaut), png(cameraman)))

    result = pixels(output.png)
    assert output.metadata["engine"] == "classical"
    assert output.metadata["detector"] == "yunet"
    assert (output.metadata["facesInSource"], output.metadata["facesInTarget"]) == (1, 1)
    assert output.metadata["swapped"] == 1
    assert (output.width, output.height) == (cameraman.shape[1], cameraman.shape[0])
    (face,) = YuNetDetector().detect(np.ascontiguousarray(cameraman[:, :, ::-1]))
    x1, y1, x2, y2 = face.bbox.astype(int)
    inside = (slice(y1, y2), slice(x1, x2))
    change = np.abs(result[inside].astype(int) - cameraman[inside].astype(int)).max(axis=-1)
    # Eyes and mouth replaced, not a faint tint: a good part of the box moved a lot.
    assert (change > 10).mean() > 0.05
    assert change.max() > 60
    # The target is grey, so the recoloured face must be grey too.
    assert np.abs(result[inside].astype(int) - result[inside][..., :1]).max() <= 2
    margin = (x2 - x1) // 4
    far = np.ones(result.shape[:2], dtype=bool)
    far[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin] = False
    assert np.array_equal(result[far], cameraman[far])


def test_classical_engine_needs_no_model_and_runs_on_cpu_whatever_was_asked(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    swap = FaceSwap.load(None, ModelStore(root=tmp_path), device="cuda")

    output = swap.run(FaceSwapParams(png(astronaut), png(astronaut[:, ::-1].copy())))

    assert output.metadata["engine"] == "classical"
    assert (output.metadata["device"], output.metadata["providers"]) == ("cpu", [])


def test_unreadable_buffalo_l_without_inswapper_falls_back_to_yunet_with_a_warning(
    tmp_path: Path, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(root=tmp_path)
    pack = store.folder("insightface") / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / tiny.DETECTOR_FILE).write_bytes(b"not an onnx model")

    swap = FaceSwap.load(None, store)
    output = swap.run(FaceSwapParams(png(astronaut), png(astronaut)))

    assert output.metadata["detector"] == "yunet"
    assert str(pack) in caplog.text


# -- fetching -------------------------------------------------------------------------


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for the files put in the returned folder."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_installs_buffalo_l_and_inswapper_then_load_uses_them(
    tmp_path: Path, file_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, served = file_server
    models = tiny.write_buffalo(tmp_path / "built")
    # Nested one folder deep, as some mirrors zip it; and a macOS fork to ignore.
    with zipfile.ZipFile(served / "buffalo_l.zip", "w") as archive:
        for model in models.glob("*.onnx"):
            archive.write(model, f"buffalo_l/{model.name}")
        archive.writestr("__MACOSX/buffalo_l/._det_10g.onnx", b"junk")
    shutil.copy(tiny.write_swapper(tmp_path / "built" / "swapper.onnx"), served / "inswapper.onnx")
    monkeypatch.setattr(face_swap_models, "ANALYSIS_PACK_URL", f"{base}/buffalo_l.zip")
    store = ModelStore(root=tmp_path / "store", offline=False)

    pack = face_swap_models.fetch("buffalo_l", store)
    swapper = face_swap_models.fetch("inswapper", store, url=f"{base}/inswapper.onnx")

    assert sorted(p.name for p in pack.iterdir()) == [tiny.DETECTOR_FILE, tiny.RECOGNIZER_FILE]
    assert swapper == store.folder("insightface") / "inswapper_128.onnx"
    assert sorted(p.name for p in store.folder("insightface").iterdir()) == [
        "buffalo_l",
        "inswapper_128.onnx",
    ]
    assert (
        FaceSwap.load(None, store)
        .run(FaceSwapParams(png(ONE_FACE), png(TWO_FACES)))
        .metadata["engine"]
        == "inswapper"
    )


def test_fetch_of_a_missing_file_leaves_nothing_behind(
    tmp_path: Path, file_server: tuple[str, Path]
) -> None:
    base, _ = file_server
    store = ModelStore(root=tmp_path / "store", offline=False)

    with pytest.raises(FetchFailed, match="could not download"):
        face_swap_models.fetch("inswapper", store, url=f"{base}/nothing-here.onnx")

    assert list(store.folder("insightface").iterdir()) == []


def test_fetch_inswapper_without_url_says_where_to_put_the_file(tmp_path: Path) -> None:
    store = ModelStore(root=tmp_path, offline=False)

    with pytest.raises(ModelNotAvailable) as caught:
        face_swap_models.fetch("inswapper", store)

    assert str(store.folder("insightface") / "inswapper_128.onnx") in caught.value.message


def test_fetch_of_an_unknown_name_raises_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel):
        face_swap_models.fetch("antelopev2", ModelStore(root=tmp_path))
