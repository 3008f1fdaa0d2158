"""Stacks for the observability tests: one with a worker (metrics on a free port, JSON
logs), and one web node with no worker, where tasks stay queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from project.devredis import free_port
from tests.client import Api
from tests.stack import Stack, running_stack


@pytest.fixture(scope="session")
def worker_metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def stack(
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
    worker_metrics_port: int,
) -> Iterator[Stack]:
    env = {
        "ATELIER_WORKER_METRICS_PORT": str(worker_metrics_port),
        "ATELIER_LOG_FORMAT": "json",
        "ATELIER_PRELOAD": "IMAGE_GENERATION",
    }
    folder = tmp_path_factory.mktemp("observed")
    with running_stack(redis_url, folder, stack_models, env) as running:
        yield running


@pytest.fixture(scope="session")
def idle_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A web node alone: what is submitted stays QUEUED."""
    with Stack(redis_url, tmp_path_factory.mktemp("idle"), stack_models).held() as stack:
        stack.start_web()
        yield stack


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


@pytest.fixture
def idle_api(idle_stack: Stack) -> Api:
    return Api(idle_stack.http_url, idle_stack.ws_url)


@pytest.fixture
def web_metrics(stack: Stack) -> str:
    return f"{stack.http_url}/metrics"


@pytest.fixture
def worker_metrics(worker_metrics_port: int) -> str:
    return f"http://127.0.0.1:{worker_metrics_port}/metrics"


@pytest.fixture
def idle_metrics(idle_stack: Stack) -> str:
    return f"{idle_stack.http_url}/metrics"
