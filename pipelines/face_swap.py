"""Face swap: the face of one image put onto the faces of another.

Two engines, chosen by what the model store holds (`insightface/` folder):

- "inswapper": insightface's `inswapper_128.onnx`, driven by buffalo_l's SCRFD
  detector (`det_10g.onnx`) and ArcFace recognizer (`w600k_r50.onnx`);
- "classical": no swap model. The source face is aligned on five landmarks,
  recoloured and Poisson-blended (`pipelines.faces.paste_face`). Landmarks come from
  buffalo_l's detector when present, else from YuNet (`yuface`), whose weights ship
  inside the package, so this engine is always available.

Faces are numbered left to right (by the left edge of their box) in both images.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np
from PIL import Image

from pipelines.downloads import FetchFailed, download
from pipelines.errors import FaceIndexOutOfRange, ModelNotAvailable, NoFaceFound, UnknownModel
from pipelines.faces import (
    BgrImage,
    DetectedFace,
    FaceDetector,
    ScrfdDetector,
    YuNetDetector,
    load_analysis_pack,
    paste_face,
)
from pipelines.images import ImageLimits, decode_image, encode_png
from pipelines.models import ModelStore, fetch_hint, onnx_providers
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import Progress, ProgressCallback, ignore_progress
from pipelines.timing import Timings

logger = logging.getLogger(__name__)

FAMILY = "insightface"
ANALYSIS_PACK = "buffalo_l"
SWAPPER_FILE = "inswapper_128.onnx"
# The long-standing release; insightface 2.1's own downloader (never used here) reads
# the same pack from the `model-zoo` release tag instead.
ANALYSIS_PACK_URL = (
    "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
)
FETCHABLE = (ANALYSIS_PACK, "inswapper")
# The one model name `load` takes: which engine runs follows from the store instead.
DEFAULT_MODEL = "default"
_DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True, slots=True)
class FaceSwapParams:
    """What to swap: the source face at `source_face_index` onto the target's face at
    `target_face_index`, or onto every target face when that is None. Indexes count
    faces left to right from 0."""

    source_image: bytes
    target_image: bytes
    source_face_index: int = 0
    target_face_index: int | None = None


class _Engine(Protocol):
    name: str

    def identity(self, image: BgrImage, face: DetectedFace) -> Any:
        """What the engine keeps of the source face to paint it elsewhere."""
        ...

    def paste(self, image: BgrImage, face: DetectedFace, identity: Any) -> BgrImage | None:
        """`image` with `face` replaced; None when this face cannot be swapped."""
        ...


class _InswapperEngine:
    name = "inswapper"

    def __init__(self, recognizer: Any, swapper: Any) -> None:
        self._recognizer = recognizer
        self._swapper = swapper

    def identity(self, image: BgrImage, face: DetectedFace) -> Any:
        from insightface.app.common import Face

        # insightface's Face: the recognizer writes `.embedding` onto it, and the
        # swapper reads `.normed_embedding` from it.
        subject = Face(bbox=face.bbox, kps=face.kps, det_score=face.det_score)
        self._recognizer.get(image, subject)
        return subject

    def paste(self, image: BgrImage, face: DetectedFace, identity: Any) -> BgrImage | None:
        return self._swapper.get(image, face, identity, paste_back=True)


@dataclass(frozen=True, slots=True)
class _SourceFace:
    image: BgrImage
    face: DetectedFace


class _ClassicalEngine:
    name = "classical"

    def identity(self, image: BgrImage, face: DetectedFace) -> _SourceFace:
        return _SourceFace(image, face)

    def paste(self, image: BgrImage, face: DetectedFace, identity: _SourceFace) -> BgrImage | None:
        return paste_face(image, face, identity.image, identity.face)


class FaceSwap:
    """A loaded face-swap pipeline; `run` may be called any number of times, one at a time."""

    def __init__(
        self,
        detector: FaceDetector,
        engine: _Engine,
        *,
        device: str,
        providers: list[str],
        limits: ImageLimits,
    ) -> None:
        self._detector = detector
        self._engine = engine
        self._device = device
        self._providers = providers
        self._limits = limits

    @classmethod
    def load(
        cls,
        model: str | None,
        store: ModelStore,
        *,
        device: str = "cpu",
        limits: ImageLimits = _DEFAULT_LIMITS,
    ) -> FaceSwap:
        """Load the best engine the store allows; never downloads anything.

        `model` must be None or `DEFAULT_MODEL`, else `UnknownModel` (field "model").
        Raises `ModelNotAvailable` when `inswapper_128.onnx` is present but buffalo_l's
        detector or recognizer is missing or unreadable, or the swapper itself is
        unreadable. Without the swapper, loading always succeeds (classical engine).
        """
        if model not in (None, DEFAULT_MODEL):
            raise UnknownModel(
                f"unknown face swap model {model!r}: the only one is {DEFAULT_MODEL!r}, "
                "whose engine follows from the models the store holds",
                field="model",
            )
        folder = store.folder(FAMILY)
        providers = onnx_providers(device)
        pack = load_analysis_pack(
            folder / ANALYSIS_PACK, providers, on_gpu=device.startswith("cuda")
        )
        swapper_path = folder / SWAPPER_FILE
        if not swapper_path.is_file():
            if pack.detector is None:
                if (folder / ANALYSIS_PACK).exists():  # there, but unusable: say why
                    logger.warning("face swap detects faces with YuNet: %s", pack.problem)
                detector: FaceDetector = YuNetDetector()
                return cls(detector, _ClassicalEngine(), device="cpu", providers=[], limits=limits)
            return cls(
                ScrfdDetector(pack.detector),
                _ClassicalEngine(),
                device=device,
                providers=_session_providers(pack.detector),
                limits=limits,
            )
        if pack.detector is None or pack.recognizer is None:
            raise store.missing(
                ANALYSIS_PACK,
                [folder / ANALYSIS_PACK],
                f"{SWAPPER_FILE} needs its face detector and recognizer, but {pack.problem}. "
                + fetch_hint(ANALYSIS_PACK),
            )
        swapper = _load_swapper(store, swapper_path, providers)
        return cls(
            ScrfdDetector(pack.detector),
            _InswapperEngine(pack.recognizer, swapper),
            device=device,
            providers=_session_providers(swapper),
            limits=limits,
        )

    def run(self, params: FaceSwapParams, progress: ProgressCallback = ignore_progress) -> Output:
        """Swap faces as `params` asks; an RGB PNG the size of the target image (any
        transparency in the target is dropped).

        Raises `InvalidImage` (field sourceImage/targetImage) for unreadable input,
        `NoFaceFound` when either image has no face, `FaceIndexOutOfRange` for an index
        past the faces found. `Cancelled` from `progress` propagates; no work follows it.
        """
        timings = Timings()
        progress(Progress("decoding input"))
        with timings.phase("decode"):
            source = self._decode(params.source_image, "sourceImage")
            target = self._decode(params.target_image, "targetImage")

        progress(Progress("detecting faces"))
        with timings.phase("detect"):
            source_faces = self._detector.detect(source)
            if not source_faces:
                raise NoFaceFound("no face was found in the source image", field="sourceImage")
            source_face = _pick(source_faces, params.source_face_index, "source")
            target_faces = self._detector.detect(target)
            if not target_faces:
                raise NoFaceFound("no face was found in the target image", field="targetImage")
            chosen = (
                target_faces
                if params.target_face_index is None
                else [_pick(target_faces, params.target_face_index, "target")]
            )
            identity = self._engine.identity(source, source_face)

        result, swapped = target, 0
        with timings.phase("swap"):
            for done, face in enumerate(chosen):
                progress(Progress("swapping faces", step=done, total_steps=len(chosen)))
                pasted = self._engine.paste(result, face, identity)
                if pasted is not None:
                    result, swapped = pasted, swapped + 1
            progress(Progress("swapping faces", step=len(chosen), total_steps=len(chosen)))

        progress(Progress("encoding"))
        with timings.phase("encode"):
            height, width = result.shape[:2]
            png = encode_png(Image.fromarray(np.ascontiguousarray(result[:, :, ::-1])))
        metadata = {
            "engine": self._engine.name,
            "detector": self._detector.name,
            "device": self._device,
            "providers": list(self._providers),
            "facesInSource": len(source_faces),
            "facesInTarget": len(target_faces),
            "swapped": swapped,
            "timings": timings.as_metadata(),
        }
        return Output(png=png, width=width, height=height, metadata=metadata)

    def _decode(self, data: bytes, field: str) -> BgrImage:
        image = decode_image(data, limits=self._limits, field=field).convert("RGB")
        return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _pick(faces: list[DetectedFace], index: int, which: str) -> DetectedFace:
    if 0 <= index < len(faces):
        return faces[index]
    count = f"{len(faces)} face" + ("" if len(faces) == 1 else "s")
    raise FaceIndexOutOfRange(
        f"{which}FaceIndex is {index}, but the {which} image has {count} "
        f"(numbered 0 to {len(faces) - 1}, left to right)",
        field=f"{which}FaceIndex",
    )


def _load_swapper(store: ModelStore, path: Path, providers: list[str]) -> Any:
    from insightface.model_zoo import get_model
    from insightface.model_zoo.inswapper import INSwapper

    try:
        swapper = get_model(str(path), providers=providers)
    except Exception as error:  # a corrupt download: the fix is to fetch it again
        raise store.missing(
            "inswapper",
            [path],
            f"The file could not be loaded ({error}). " + fetch_hint("inswapper"),
        ) from error
    if not isinstance(swapper, INSwapper):
        raise store.missing(
            "inswapper", [path], "The file is not an inswapper model. " + fetch_hint("inswapper")
        )
    return swapper


def _session_providers(model: Any) -> list[str]:
    return list(model.session.get_providers())


def fetch(name: str, store: ModelStore, *, url: str | None = None, timeout: float = 60.0) -> Path:
    """Download model `name` (one of `FETCHABLE`) into `store`; returns where it is.

    buffalo_l comes from insightface's release (`ANALYSIS_PACK_URL`). inswapper_128.onnx
    is not redistributed by insightface: `url` says where your organisation hosts it,
    and is required for it (and ignored for buffalo_l). Models appear atomically: a
    failed or interrupted download leaves nothing behind.
    """
    folder = store.folder(FAMILY)
    if name == ANALYSIS_PACK:
        return _fetch_pack(ANALYSIS_PACK_URL, folder / ANALYSIS_PACK, timeout)
    if name == "inswapper":
        destination = folder / SWAPPER_FILE
        if url is None:
            raise ModelNotAvailable(
                f"{SWAPPER_FILE} is not published by insightface, so there is no default "
                f"download: pass the URL your organisation hosts it at, or copy the file "
                f"to {destination}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with download(url, folder, timeout) as downloaded:
            os.replace(downloaded, destination)
        return destination
    raise UnknownModel(f"no face-swap model is called {name!r}; known: {ANALYSIS_PACK}, inswapper")


def _fetch_pack(url: str, destination: Path, timeout: float) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}-"))
    try:
        with download(url, destination.parent, timeout) as archive:
            _extract_models(archive, staging, url)
        # Two renames, not one: a directory cannot atomically replace another.
        old = destination.with_name(f".{destination.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if destination.exists():
            destination.rename(old)
        staging.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
        logger.info("fetched %s into %s", url, destination)
        return destination
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_models(archive: Path, into: Path, url: str) -> None:
    """Every .onnx file of the zip, flattened into `into`.

    Flattened because packs are zipped with and without a top folder; and only base
    names are used, so no path inside the archive can point outside `into`.
    """
    try:
        with zipfile.ZipFile(archive) as pack:
            members = [
                member
                for member in pack.infolist()
                if member.filename.endswith(".onnx")
                and not PurePosixPath(member.filename).name.startswith(".")  # macOS forks
            ]
            if not members:
                raise FetchFailed(f"{url} holds no .onnx models")
            for member in members:
                target = into / PurePosixPath(member.filename).name
                with pack.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except zipfile.BadZipFile as error:
        raise FetchFailed(f"{url} is not a zip archive: {error}") from error


# mypy checks that the class meets the shared contract.
_PIPELINE: type[Pipeline[FaceSwapParams]] = FaceSwap
