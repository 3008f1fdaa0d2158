"""One real stack for the API tests: Redis, daphne and one Dramatiq worker."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import tiny_random
from pipelines.models import ModelStore
from tests.client import Api
from tests.stack import BOB_KEY, Stack, running_stack


@pytest.fixture(scope="session")
def stack_models(tmp_path_factory: pytest.TempPathFactory, real_u2netp_store: ModelStore) -> Path:
    """A model store with tiny-random built and the real u2netp; face swap runs classical."""
    root = tmp_path_factory.mktemp("stack-models")
    tiny_random.build(root / "diffusers" / tiny_random.NAME)
    (root / "rembg").mkdir()
    shutil.copy(real_u2netp_store.folder("rembg") / "u2netp.onnx", root / "rembg")
    return root


@pytest.fixture(scope="session")
def stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_stack(redis_url, tmp_path_factory.mktemp("stack"), stack_models) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


@pytest.fixture
def bob(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url, key=BOB_KEY)
