"""Where model weights live, and which device runs them.

Every pipeline resolves its configured model names against one `ModelStore`: a
directory (`ATELIER_MODEL_DIR` at the edges) with one folder per family
(`diffusers/`, `rembg/`, `insightface/`). Weights get there through
`python -m pipelines.fetch`; at task time nothing is downloaded while the store
is offline, and a missing model raises `ModelNotAvailable` saying what is
missing, where it was looked for and how to get it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import ModelNotAvailable


@dataclass(frozen=True, slots=True)
class ModelStore:
    root: Path
    # Offline: never reach a model hub from a task; only local files are used.
    offline: bool = True

    def folder(self, family: str) -> Path:
        return self.root / family

    def missing(self, model: str, looked_in: Iterable[Path | str], fix: str) -> ModelNotAvailable:
        places = ", ".join(str(place) for place in looked_in)
        return ModelNotAvailable(
            f"model {model!r} is not available: looked in {places}. {fix}",
            public_message=f"model {Path(model).name!r} is not available on this server",
        )


def fetch_hint(model: str) -> str:
    return f"Fetch it with `python -m pipelines.fetch {model}` (or `make models`)."


def choose_device(preferred: str | None = None) -> str:
    """`preferred` if given, else the best present: cuda, then mps, then cpu."""
    if preferred:
        return preferred
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for a device name, CPU always last."""
    import onnxruntime

    available = set(onnxruntime.get_available_providers())
    wanted = ["CUDAExecutionProvider"] if device.startswith("cuda") else []
    if device == "mps":
        wanted = ["CoreMLExecutionProvider"]
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
