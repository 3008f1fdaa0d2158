"""Finding faces with five landmarks, and pasting one face onto another without a swap model.

Detection runs on insightface's SCRFD (from an analysis pack such as buffalo_l, loaded
here) or on YuNet, whose weights are compiled into `yuface`.

Images here are OpenCV's: `uint8` arrays, height × width × 3, in BGR order. Detectors
return `DetectedFace`s ordered left to right, so a face index means the same thing to
every engine and to the user looking at the picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

BgrImage = NDArray[np.uint8]
Points = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class DetectedFace:
    """One face in an image.

    `bbox` is (x1, y1, x2, y2) in pixels. `kps` holds five (x, y) landmarks in
    insightface's order: the eye on the image's left, the other eye, the nose tip, then
    the mouth corner on the image's left and the other one. `det_score` is the
    detector's confidence in [0, 1].
    """

    bbox: Points
    kps: Points
    det_score: float


class FaceDetector(Protocol):
    # Reported in results: "scrfd" or "yunet".
    name: str

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        """Every face found in `image`, ordered left to right."""
        ...


def left_to_right(faces: Iterable[DetectedFace]) -> list[DetectedFace]:
    return sorted(faces, key=lambda face: float(face.bbox[0]))


class ScrfdDetector:
    """insightface's SCRFD (buffalo_l's `det_10g.onnx`), already prepared."""

    name = "scrfd"

    def __init__(self, model: Any) -> None:
        self._model = model

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        boxes, landmarks = self._model.detect(image, max_num=0)
        if landmarks is None:  # a detector without landmark heads; load refuses those
            return []
        return left_to_right(
            DetectedFace(
                bbox=box[:4].astype(np.float32),
                kps=points.astype(np.float32),
                det_score=float(box[4]),
            )
            for box, points in zip(boxes, landmarks, strict=True)
        )


class YuNetDetector:
    """libfacedetection's YuNet through `yuface`: weights compiled in, so it always loads.

    yuface's landmarks come in insightface's order already (image-left eye first, then
    the image-left mouth corner before the other).
    """

    name = "yunet"

    def __init__(self, min_confidence: float = 0.5, max_side: int = 960) -> None:
        self._min_confidence = min_confidence
        # libfacedetection warns that larger inputs degrade detection.
        self._max_side = max_side

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        import yuface

        height, width = image.shape[:2]
        scale = min(1.0, self._max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = _uint8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        confidences, boxes, landmarks = yuface.detect(
            np.ascontiguousarray(image), conf=self._min_confidence
        )
        faces = []
        for confidence, (x, y, w, h), points in zip(confidences, boxes, landmarks, strict=True):
            bbox = np.array([x, y, x + w, y + h], dtype=np.float32) / scale
            kps = points.astype(np.float32).reshape(5, 2) / scale
            faces.append(DetectedFace(bbox=bbox, kps=kps, det_score=float(confidence) / 100))
        return left_to_right(faces)


def paste_face(
    target: BgrImage, target_face: DetectedFace, source: BgrImage, source_face: DetectedFace
) -> BgrImage | None:
    """`target` with the source face aligned onto `target_face` and blended in.

    The source is warped by the similarity transform that best maps its five landmarks
    onto the target's, recoloured to the target face's LAB statistics, then
    Poisson-blended (`cv2.seamlessClone`) into an ellipse fitted to the target face.
    Returns None when the landmarks admit no alignment or the face lies off the image.
    """
    matrix, _ = cv2.estimateAffinePartial2D(
        source_face.kps,
        target_face.kps,
        method=cv2.RANSAC,
        # Every landmark counts as an inlier, so the result is the least-squares fit.
        ransacReprojThreshold=1e4,
    )
    if matrix is None:
        return None
    height, width = target.shape[:2]
    warped = _uint8(
        cv2.warpAffine(
            source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    )
    # Only pixels that are face in both images: the source's own ellipse, carried across.
    source_mask = cv2.warpAffine(
        face_mask(source_face.kps, source.shape[:2]), matrix, (width, height)
    )
    mask = cv2.bitwise_and(face_mask(target_face.kps, (height, width)), source_mask)
    mask = _uint8(cv2.erode(mask, np.ones((3, 3), np.uint8)))
    # seamlessClone needs a margin: its solver reads one pixel around the mask.
    mask[:2, :] = mask[-2:, :] = 0
    mask[:, :2] = mask[:, -2:] = 0
    if cv2.countNonZero(mask) < 16:
        return None
    recoloured = match_colour(warped, target, mask)
    x, y, w, h = cv2.boundingRect(mask)
    # seamlessClone centres the mask's bounding box on this point: keep it in place.
    centre = (x + w // 2, y + h // 2)
    return _uint8(cv2.seamlessClone(recoloured, target, mask, centre, cv2.NORMAL_CLONE))


def _uint8(image: object) -> NDArray[np.uint8]:
    # OpenCV hands back the dtype it was given; this only tells the type checker.
    return np.asarray(image, dtype=np.uint8)


def face_mask(kps: Points, shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """A filled ellipse (255) over the face the landmarks describe: brows to chin, cheek to cheek.

    Sized from the larger of the eye distance and the eyes-to-mouth distance, so a
    face turned aside (eyes foreshortened) still gets a face-sized ellipse.
    """
    left_eye, right_eye, nose, left_mouth, right_mouth = np.asarray(kps, dtype=np.float64)
    eyes = (left_eye + right_eye) / 2
    mouth = (left_mouth + right_mouth) / 2
    eye_line = right_eye - left_eye
    down = mouth - eyes
    eyes_to_mouth = float(np.hypot(*down))
    size = max(float(np.hypot(*eye_line)), eyes_to_mouth, 1.0)
    unit_down = down / eyes_to_mouth if eyes_to_mouth > 0 else np.array([0.0, 1.0])
    unit_across = np.array([-unit_down[1], unit_down[0]])
    # From half a size above the eyes (brows) to 0.6 below the mouth (chin).
    top = eyes - 0.5 * size * unit_down
    bottom = mouth + 0.6 * size * unit_down
    # A turned head's nose points off the eyes-mouth line, and most of the visible
    # face lies on the other side of it (the cheek, not the background).
    turn = float(np.dot(nose - (eyes + mouth) / 2, unit_across))
    centre = (top + bottom) / 2 - turn * unit_across
    half_height = float(np.hypot(*(bottom - top))) / 2
    half_width = 0.75 * size
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    mask = np.zeros(shape[:2], dtype=np.uint8)
    cv2.ellipse(
        mask,
        (round(centre[0]), round(centre[1])),
        (max(1, round(half_width)), max(1, round(half_height))),
        angle,
        0,
        360,
        255,
        thickness=-1,
    )
    return mask


def match_colour(source: BgrImage, target: BgrImage, mask: NDArray[np.uint8]) -> BgrImage:
    """`source` shifted to the mean and spread of `target` in LAB, both measured under `mask`.

    Seamless cloning fixes the boundary but keeps the source's internal contrast and
    tint; matching first makes skin tone and lighting agree (a grey target turns the
    source grey).
    """
    inside = mask > 0
    source_lab = cv2.cvtColor(source.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
    target_lab = cv2.cvtColor(target.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
    source_mean, source_std = source_lab[inside].mean(axis=0), source_lab[inside].std(axis=0)
    target_mean, target_std = target_lab[inside].mean(axis=0), target_lab[inside].std(axis=0)
    # Capped so a flat source patch is not blown up into noise.
    gain = np.minimum(target_std / np.maximum(source_std, 1e-3), 3.0)
    matched = (source_lab - source_mean) * gain + target_mean
    matched[..., 0] = np.clip(matched[..., 0], 0, 100)
    bgr = cv2.cvtColor(matched.astype(np.float32), cv2.COLOR_LAB2BGR)
    return np.clip(bgr * 255 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class AnalysisPack:
    """What loaded of an insightface analysis pack (buffalo_l): SCRFD and ArcFace models."""

    detector: Any | None = None
    recognizer: Any | None = None
    # Why a part is missing, worded to follow "but" in a sentence.
    problem: str | None = None


def load_analysis_pack(
    folder: Path, providers: list[str], *, on_gpu: bool, det_size: tuple[int, int] = (640, 640)
) -> AnalysisPack:
    """The pack's detector and recognizer, as far as `folder` holds readable ones.

    Never raises for missing or broken files: the caller decides whether what is
    missing matters. Never downloads.
    """
    if not any(folder.glob("*.onnx")):
        return AnalysisPack(problem=f"{folder} holds no models")
    from insightface.app import FaceAnalysis

    try:
        # A directory path, never a pack name: given a name, insightface downloads it.
        analysis = FaceAnalysis(
            name=str(folder), allowed_modules=["detection", "recognition"], providers=providers
        )
        analysis.prepare(ctx_id=0 if on_gpu else -1, det_size=det_size)
    except AssertionError:  # how insightface says no file was a detector
        return AnalysisPack(problem=f"{folder} has no face detection model")
    except Exception as error:  # any unreadable file means the same here: fetch again
        return AnalysisPack(problem=f"the models in {folder} could not be loaded ({error})")
    detector = analysis.models.get("detection")
    recognizer = analysis.models.get("recognition")
    if detector is not None and not getattr(detector, "use_kps", False):
        return AnalysisPack(
            recognizer=recognizer, problem=f"{folder}'s detector finds no landmarks"
        )
    if recognizer is None:
        return AnalysisPack(detector, problem=f"{folder} has no face recognition model")
    return AnalysisPack(detector, recognizer)
