"""Tiny stand-ins for insightface's buffalo_l and inswapper_128 models.

Each graph has the inputs and outputs insightface's `ModelRouter` routes on, so the
library's real SCRFD, ArcFaceONNX and INSwapper classes load and run them. They
compute something small but meaningful, so tests can reason about the results:

- the detector calls every bright 32×32 square (in a 320-pixel-wide image; 64×64 at
  its 640-pixel input) "a face": its score is a sigmoid of the mean brightness under a
  64×64 window centred on each stride-16 anchor, with constant box and landmark offsets;
- the recognizer's 512-d embedding is a fixed projection of the face crop's mean colour;
- the swapper keeps 30% of the aligned target crop and paints the rest a colour
  chosen by the source latent, so a swapped face visibly changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

OPSET = 13
IR_VERSION = 8  # old enough for any onnxruntime insightface supports

DETECTOR_FILE = "det_10g.onnx"
RECOGNIZER_FILE = "w600k_r50.onnx"
SWAPPER_FILE = "inswapper_128.onnx"

# Geometry at the detector's input, in pixels.
FACE_STRIDE = 16
FACE_WINDOW = 64
# Score = sigmoid(SHARPNESS * (window mean - THRESHOLD)), the mean in SCRFD's
# normalised units (-1 black .. +1 white): only a window almost filled by a bright
# square passes 0.5, so each square yields one anchor (plus neighbours NMS removes).
SHARPNESS = 20.0
THRESHOLD = 0.4
# Landmarks, in stride units from the anchor: eyes, nose, mouth corners.
KPS_OFFSETS = [(-0.7, -0.5), (0.7, -0.5), (0.0, 0.1), (-0.55, 0.8), (0.55, 0.8)]
# Box half-size, in stride units: a 64-pixel box around the anchor.
BOX_HALF = 2.0
ANCHORS = 2


def _tensor(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _write(graph: object, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, str(path))
    return path


def _head(
    name: str, features: str, channels: int, weight: float, bias: list[float]
) -> tuple[list, list]:
    """A 1×1 conv over a [1,1,h,w] map, reshaped to SCRFD's (h·w·anchors, width) rows."""
    width = channels // ANCHORS
    initializers = [
        _tensor(f"{name}_w", np.full((channels, 1, 1, 1), weight)),
        _tensor(f"{name}_b", np.array(bias)),
        numpy_helper.from_array(np.array([-1, width], dtype=np.int64), f"{name}_shape"),
    ]
    nodes = [helper.make_node("Conv", [features, f"{name}_w", f"{name}_b"], [f"{name}_conv"])]
    last = f"{name}_conv"
    if name.startswith("score"):
        nodes.append(helper.make_node("Sigmoid", [last], [f"{name}_sig"]))
        last = f"{name}_sig"
    nodes += [
        helper.make_node("Transpose", [last], [f"{name}_hwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{name}_hwc", f"{name}_shape"], [name]),
    ]
    return nodes, initializers


def write_detector(path: Path) -> Path:
    """An SCRFD-shaped detector: 9 rank-2 outputs (scores, boxes, landmarks × strides)."""
    nodes = [helper.make_node("Conv", ["input.1", "gray_w"], ["gray"])]
    initializers = [_tensor("gray_w", np.full((1, 3, 1, 1), 1 / 3))]
    half = FACE_WINDOW // 2
    outputs: dict[str, list] = {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        pooled = f"pool_{stride}"
        if stride == FACE_STRIDE:
            # A window centred on each anchor (anchors sit at multiples of the stride).
            nodes.append(
                helper.make_node(
                    "AveragePool",
                    ["gray"],
                    [pooled],
                    kernel_shape=[FACE_WINDOW, FACE_WINDOW],
                    strides=[stride, stride],
                    pads=[half, half, half - 1, half - 1],
                    count_include_pad=1,
                )
            )
            score = (SHARPNESS, [-SHARPNESS * THRESHOLD] * ANCHORS)
        else:
            nodes.append(
                helper.make_node(
                    "AveragePool",
                    ["gray"],
                    [pooled],
                    kernel_shape=[stride, stride],
                    strides=[stride, stride],
                )
            )
            score = (0.0, [-10.0] * ANCHORS)  # other strides never fire
        kps_bias = [value for point in KPS_OFFSETS for value in point] * ANCHORS
        for kind, channels, weight, bias in (
            ("score", ANCHORS, score[0], score[1]),
            ("bbox", 4 * ANCHORS, 0.0, [BOX_HALF] * 4 * ANCHORS),
            ("kps", 10 * ANCHORS, 0.0, kps_bias),
        ):
            head_nodes, head_inits = _head(f"{kind}_{stride}", pooled, channels, weight, bias)
            nodes += head_nodes
            initializers += head_inits
            outputs[kind].append(
                helper.make_tensor_value_info(
                    f"{kind}_{stride}", TensorProto.FLOAT, [f"n{stride}", channels // ANCHORS]
                )
            )
    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        initializers,
    )
    return _write(graph, path)


def write_recognizer(path: Path) -> Path:
    """An ArcFace-shaped recognizer: [N,3,112,112] → [N,512] from the crop's mean colour."""
    rng = np.random.default_rng(7)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["colour"]),
            helper.make_node("MatMul", ["colour", "proj"], ["projected"]),
            helper.make_node("Add", ["projected", "offset"], ["fc1"]),
        ],
        "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 512])],
        [
            _tensor("proj", rng.normal(size=(3, 512))),
            _tensor("offset", rng.normal(scale=0.1, size=512)),
        ],
    )
    return _write(graph, path)


def write_swapper(path: Path) -> Path:
    """An INSwapper-shaped swapper: ("target" [1,3,128,128], "source" [1,512]) → image.

    The output is 0.3 × target + 0.7 × a colour from the source latent. `emap` is the
    last initializer, where INSwapper looks for it.
    """
    rng = np.random.default_rng(11)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["target", "keep_w"], ["kept"]),
            helper.make_node("MatMul", ["source", "paint_w"], ["paint_logits"]),
            helper.make_node("Sigmoid", ["paint_logits"], ["paint"]),
            helper.make_node("Reshape", ["paint", "paint_shape"], ["paint_map"]),
            helper.make_node("Mul", ["paint_map", "paint_gain"], ["painted"]),
            helper.make_node("Add", ["kept", "painted"], ["output"]),
        ],
        "tiny_inswapper",
        [
            helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
            helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        [
            _tensor("keep_w", 0.3 * np.eye(3).reshape(3, 3, 1, 1)),
            _tensor("paint_w", rng.normal(scale=3.0, size=(512, 3))),
            numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "paint_shape"),
            _tensor("paint_gain", np.array(0.7)),
            _tensor("emap", rng.normal(size=(512, 512)) / np.sqrt(512)),
        ],
    )
    return _write(graph, path)


def write_buffalo(folder: Path, *, detector: bool = True, recognizer: bool = True) -> Path:
    """A buffalo_l-like folder holding the parts asked for."""
    folder.mkdir(parents=True, exist_ok=True)
    if detector:
        write_detector(folder / DETECTOR_FILE)
    if recognizer:
        write_recognizer(folder / RECOGNIZER_FILE)
    return folder
