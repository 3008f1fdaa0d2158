"""A task past its kind's time limit fails with TIMEOUT, and the worker goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Api
from tests.stack import running_stack
from tests.stepgate import held


@pytest.fixture(scope="module")
def limited(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    with running_stack(
        redis_url,
        tmp_path_factory.mktemp("limited"),
        stack_models,
        {"ATELIER_TIME_LIMIT_IMAGE_GENERATION": "2", "ATELIER_PRELOAD": "IMAGE_GENERATION"},
    ) as stack:
        yield Api(stack.http_url, stack.ws_url)


def test_generation_past_its_time_limit_fails_with_timeout_and_frees_the_worker(
    limited: Api,
) -> None:
    # Held at a step until its time limit ends it, however fast the machine.
    slow = limited.submit(
        {"imageGeneration": {"prompt": held("slow"), "width": 64, "height": 64, "steps": 8}}
    )
    quick = limited.submit(
        {"imageGeneration": {"prompt": "quick", "width": 64, "height": 64, "steps": 2}}
    )

    slow_events = asyncio.run(limited.events(slow["id"], timeout=60))
    final = slow_events[-1]
    assert final["status"] == "FAILED"
    assert final["error"]["code"] == "TIMEOUT"
    assert "2 s" in final["error"]["message"]
    assert final["result"] is None

    quick_events = asyncio.run(limited.events(quick["id"], timeout=60))
    assert quick_events[-1]["status"] == "SUCCEEDED"
