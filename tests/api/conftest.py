"""One real stack for the API tests: Redis, daphne and one Dramatiq worker."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import tiny_random
from pipelines.models import ModelStore
from project.devredis import LOCAL_URL, EmbeddedRedis, reachable
from tests.client import Api
from tests.stack import BOB_KEY, Stack


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis on 127.0.0.1:6379 when there is one, else an embedded one."""
    if reachable(LOCAL_URL):
        yield LOCAL_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


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
    running = Stack(redis_url, tmp_path_factory.mktemp("stack"), stack_models)
    try:
        running.start_web()
        running.start_worker()
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.stop()


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


@pytest.fixture
def bob(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url, key=BOB_KEY)
