"""One real stack for the API tests: Redis, daphne and one Dramatiq worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Api
from tests.stack import BOB_KEY, Stack, running_stack


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
