"""A live stack (Redis, daphne, one Dramatiq worker) for the demo page, and headless
Chromium to drive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo.browser import DemoPage, binaries, chromium
from tests.stack import Stack, running_stack


@pytest.fixture(scope="session")
def demo_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Face swap is not driven from the browser here: the worker preloads the others."""
    with running_stack(
        redis_url,
        tmp_path_factory.mktemp("demo-stack"),
        stack_models,
        {"ATELIER_PRELOAD": "IMAGE_GENERATION,BACKGROUND_REMOVAL"},
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Checked before the stack starts, so that a machine without a browser skips at once."""
    return binaries()


@pytest.fixture
def demo(browser_binaries: tuple[str, str], demo_stack: Stack) -> Iterator[DemoPage]:
    """The demo page open in a fresh headless Chromium session."""
    with chromium(*browser_binaries) as driver:
        page = DemoPage(driver, demo_stack.http_url)
        page.open()
        yield page
