"""One stack with three web nodes (A, B, C) and one worker, shared by the tests that
follow tasks across nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from project.devredis import free_port
from tests.client import Api
from tests.scale.nodes import Nodes
from tests.stack import running_stack


@pytest.fixture(scope="package")
def three_nodes(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nodes]:
    """Alice's API on each of three web nodes over one Redis and one worker."""
    env = {"ATELIER_PRELOAD": "IMAGE_GENERATION"}
    folder = tmp_path_factory.mktemp("three-nodes")
    with running_stack(redis_url, folder, stack_models, env) as stack:
        ports = [stack.port, free_port(), free_port()]
        for port in ports[1:]:
            stack.start_web(port)
        a, b, c = (Api(f"http://127.0.0.1:{p}", f"ws://127.0.0.1:{p}/graphql") for p in ports)
        yield Nodes(stack, a, b, c)
