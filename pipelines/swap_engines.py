"""Swap engines: how a face found in the source image is painted over a target face.

An `Engine` takes what it needs of the source face once (`identity`), then pastes
it over any number of target faces (`paste`), one at a time. Faces come from a
`pipelines.faces.FaceDetector`; images are OpenCV BGR arrays (`BgrImage`).

- `InswapperEngine` ("inswapper"): insightface's `inswapper_128.onnx`, fed the
  source face's ArcFace embedding from buffalo_l's recognizer. `load_swapper`
  reads the swapper from a file, raising `ModelNotAvailable` when it cannot.
- `ClassicalEngine` ("classical"): no model; `pipelines.faces.paste_face` aligns the
  source face on five landmarks, recolours it and Poisson-blends it in.

Engines never download anything and hold no state between calls but their models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pipelines.faces import BgrImage, DetectedFace, paste_face
from pipelines.models import ModelStore, fetch_hint


class Engine(Protocol):
    # Reported in results as `metadata.engine`.
    name: str

    def identity(self, image: BgrImage, face: DetectedFace) -> Any:
        """What the engine keeps of the source face to paint it elsewhere."""
        ...

    def paste(self, image: BgrImage, face: DetectedFace, identity: Any) -> BgrImage | None:
        """`image` with `face` replaced; None when this face cannot be swapped."""
        ...


class InswapperEngine:
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
class SourceFace:
    """The classical engine's identity: the source image and the face within it."""

    image: BgrImage
    face: DetectedFace


class ClassicalEngine:
    name = "classical"

    def identity(self, image: BgrImage, face: DetectedFace) -> SourceFace:
        return SourceFace(image, face)

    def paste(self, image: BgrImage, face: DetectedFace, identity: SourceFace) -> BgrImage | None:
        return paste_face(image, face, identity.image, identity.face)


def load_swapper(store: ModelStore, path: Path, providers: list[str]) -> Any:
    """insightface's INSwapper read from `path` on `providers`.

    Raises `ModelNotAvailable` (from `store.missing`) when the file cannot be loaded
    or is not an inswapper model; the fix either way is to fetch it again.
    """
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
