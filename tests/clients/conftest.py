"""One live stack (Redis, daphne, one Dramatiq worker) for the client examples, and
the TypeScript client's packages installed meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.npm import NpmInstall
from tests.stack import Stack, running_stack

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The TypeScript tests first, in the slots these tests already hold: they generate
    and type-check while the stack's worker boots, and the examples then find it ready."""
    slots = [i for i, item in enumerate(items) if HERE in item.path.parents]
    ours = sorted((items[i] for i in slots), key=lambda it: it.path.name != "test_typescript.py")
    for slot, item in zip(slots, ours, strict=True):
        items[slot] = item


@pytest.fixture(scope="session")
def npm_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmInstall]:
    """`npm ci` started in the background (when the packages are not in place yet)."""
    install = NpmInstall(tmp_path_factory.mktemp("npm") / "npm-ci.log")
    install.start()
    try:
        yield install
    finally:
        install.release()


@pytest.fixture(scope="session", autouse=True)
def clients_stack(
    npm_install: NpmInstall,
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Started before the first test here (autouse), after `npm ci` has started, so that
    installing and booting overlap. The examples run text-to-image only: the worker
    preloads no other pipeline."""
    with running_stack(
        redis_url,
        tmp_path_factory.mktemp("clients-stack"),
        stack_models,
        {"ATELIER_PRELOAD": "IMAGE_GENERATION"},
    ) as stack:
        yield stack
