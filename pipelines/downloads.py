"""Downloading model files for `python -m pipelines.fetch`; never used at task time."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


class FetchFailed(RuntimeError):
    """A model could not be fetched, or what was fetched failed its check."""


@contextmanager
def download(url: str, folder: Path, timeout: float = 60.0) -> Iterator[Path]:
    """`url`'s content in a temporary file inside `folder`, removed afterwards unless moved.

    Inside `folder` so that the caller's final rename stays on one filesystem.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix=".download-")
    path = Path(name)
    try:
        logger.info("downloading %s", url)
        try:
            with (
                os.fdopen(handle, "wb") as out,
                urllib.request.urlopen(url, timeout=timeout) as reply,
            ):
                shutil.copyfileobj(reply, out, 1 << 20)
        except OSError as error:  # URLError and HTTPError included
            raise FetchFailed(f"could not download {url}: {error}") from error
        yield path
    finally:
        path.unlink(missing_ok=True)
