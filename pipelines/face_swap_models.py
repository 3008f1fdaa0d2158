"""The insightface model files face swap reads, where they lie, and fetching them.

In the model store's `insightface/` folder (`FAMILY`):

- `buffalo_l/` (`ANALYSIS_PACK`): the analysis pack's .onnx files, among them the
  SCRFD detector and ArcFace recognizer; `pipelines.faces.load_analysis_pack` reads it;
- `inswapper_128.onnx` (`SWAPPER_FILE`, fetched as "inswapper").

`fetch` is for `python -m pipelines.fetch` only: loading a pipeline never downloads.
Fetched models appear atomically; a failed or interrupted fetch leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from pipelines.downloads import FetchFailed, download
from pipelines.errors import ModelNotAvailable, UnknownModel
from pipelines.models import ModelStore

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
