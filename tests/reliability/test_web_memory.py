"""Large valid submissions leave the web node's memory where it was: decoding buffers
are bounded and given back, not kept by the allocator for the life of the process."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.client import Api
from tests.reliability.procstats import memory
from tests.stack import Stack, running_stack

MiB = 2**20
SIDE = 3900  # 15.2 MP: just under the 16 MP input bound
# What may stay after the submissions: far less than one decoded 15 MP image (58 MB).
SETTLED_BOUND = 24 * MiB


@pytest.fixture(scope="module")
def memory_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("web-memory-stack")
    # No worker needed: what is measured is the web node's submit path.
    env = {"ATELIER_READY_REQUIRES_WORKERS": "0"}
    with running_stack(redis_url, folder, stack_models, env) as running:
        yield running


def jpeg(seed: int, side: int = SIDE) -> str:
    """A JPEG of smooth gradients with fine noise: a few MB at 15 MP."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), dtype=np.float32)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 1] = ramp[:, None]
    pixels[..., 2] = 128
    pixels += rng.normal(0, 6, size=(side, side, 1)).astype(np.float32)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def test_two_near_limit_face_swaps_leave_web_memory_where_it_was(memory_stack: Stack) -> None:
    api = Api(memory_stack.http_url, memory_stack.ws_url)
    (web,) = [p for p in memory_stack.processes if p.name.startswith("web")]
    images = [jpeg(seed) for seed in range(4)]
    # A small face swap first: the submit path's code (JPEG decoding included) and its
    # caches are then in place, and what follows measures only the large images.
    small = jpeg(9, side=256)
    api.submit({"faceSwap": {"sourceImage": small, "targetImage": small}})
    before = memory(web.popen.pid)
    for source, target in ((images[0], images[1]), (images[2], images[3])):
        task = api.submit({"faceSwap": {"sourceImage": source, "targetImage": target}})
        assert task["status"] == "QUEUED"
    # The node gives memory back once each request has been answered: poll for it.
    deadline = time.monotonic() + 30
    after = memory(web.popen.pid)
    while after.rss - before.rss >= SETTLED_BOUND and time.monotonic() < deadline:
        time.sleep(0.2)
        after = memory(web.popen.pid)
    figures = (
        f"web RSS {before.rss / MiB:.0f} MiB before two 15 MP face swaps, "
        f"{after.rss / MiB:.0f} MiB after ({(after.rss - before.rss) / MiB:+.0f} MiB; "
        f"anonymous {(after.anon - before.anon) / MiB:+.0f} MiB)"
    )
    print(figures)
    assert after.rss - before.rss < SETTLED_BOUND, figures
