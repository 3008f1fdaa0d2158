"""Face swap: the face of one image put onto the faces of another.

`FaceSwap.load` picks the engine (`pipelines.swap_engines`) from what the model
store's `insightface/` folder holds (`pipelines.face_swap_models`); it never
downloads anything:

- "inswapper" when `inswapper_128.onnx` is there; it then needs buffalo_l's SCRFD
  detector and ArcFace recognizer too, else loading raises `ModelNotAvailable`;
- "classical" otherwise, always available: faces are found by buffalo_l's SCRFD when
  it loads, else by YuNet (`yuface`, weights compiled in).

`FaceSwap.run` returns an RGB PNG the size of the target image, with metadata naming
the engine, detector and device. Faces are numbered left to right (by the left
edge of their box) in both images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pipelines.errors import FaceIndexOutOfRange, NoFaceFound, UnknownModel
from pipelines.face_swap_models import ANALYSIS_PACK, FAMILY, SWAPPER_FILE
from pipelines.faces import (
    BgrImage,
    DetectedFace,
    FaceDetector,
    ScrfdDetector,
    YuNetDetector,
    load_analysis_pack,
)
from pipelines.images import ImageLimits, decode_image, encode_png
from pipelines.models import ModelStore, fetch_hint, onnx_providers
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import Progress, ProgressCallback, ignore_progress
from pipelines.swap_engines import ClassicalEngine, Engine, InswapperEngine, load_swapper
from pipelines.timing import Timings

logger = logging.getLogger(__name__)

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


class FaceSwap:
    """A loaded face-swap pipeline; `run` may be called any number of times, one at a time."""

    def __init__(
        self,
        detector: FaceDetector,
        engine: Engine,
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
                return cls(detector, ClassicalEngine(), device="cpu", providers=[], limits=limits)
            return cls(
                ScrfdDetector(pack.detector),
                ClassicalEngine(),
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
        swapper = load_swapper(store, swapper_path, providers)
        return cls(
            ScrfdDetector(pack.detector),
            InswapperEngine(pack.recognizer, swapper),
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


def _session_providers(model: Any) -> list[str]:
    return list(model.session.get_providers())


# mypy checks that the class meets the shared contract.
_PIPELINE: type[Pipeline[FaceSwapParams]] = FaceSwap
