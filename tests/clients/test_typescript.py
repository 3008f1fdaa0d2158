"""The TypeScript client: its committed types match the schema, it type-checks, and
its example follows a task on a live stack to the result.

Needs Node.js 20+ and npm: without them these tests fail (they do not skip). The
packages come from `npm ci` into clients/typescript/node_modules (tests/clients/npm.py).
"""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path

import pytest

from tests.clients.followed import (
    ARGS,
    assert_edit_followed_to_success,
    assert_followed_to_success,
    edit_args,
    example_env,
    run_example,
)
from tests.clients.npm import ENV as NPM_ENV
from tests.clients.npm import PACKAGE, NpmInstall
from tests.stack import ROOT, Stack

GENERATED = PACKAGE / "src" / "generated" / "graphql.ts"


def npm(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args],
        cwd=PACKAGE,
        env={**os.environ, **NPM_ENV, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shown(run: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(run.args)}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"


@pytest.fixture(scope="session")
def typescript_client(npm_install: NpmInstall) -> Path:
    """clients/typescript with its locked packages installed."""
    problem = npm_install.wait()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return PACKAGE


def test_generated_types_match_the_schema(typescript_client: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "graphql.ts"
    run = npm("run", "codegen", CODEGEN_OUT=str(fresh))
    assert run.returncode == 0, shown(run)
    committed = GENERATED.read_text()
    generated = fresh.read_text()
    if generated != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "committed " + str(GENERATED.relative_to(ROOT)),
                "generated from schema.graphql and src/operations.graphql",
            )
        )
        pytest.fail(
            "the TypeScript client's generated types are out of date: run `make clients` "
            f"and commit {GENERATED.relative_to(ROOT)}\n{diff}",
            pytrace=False,
        )


def test_client_type_checks(typescript_client: Path) -> None:
    run = npm("run", "check")
    assert run.returncode == 0, shown(run)


def test_example_follows_a_task_to_its_result(
    typescript_client: Path, clients_stack: Stack
) -> None:
    run = run_example(
        ["npm", "run", "--silent", "example", "--", *ARGS],
        clients_stack,
        cwd=typescript_client,
        env={**example_env(clients_stack), **NPM_ENV},
    )
    assert_followed_to_success(run, clients_stack)


def test_example_redraws_a_picture_into_several_images(
    typescript_client: Path, clients_stack: Stack, tmp_path: Path
) -> None:
    run = run_example(
        ["npm", "run", "--silent", "example", "--", *edit_args(tmp_path)],
        clients_stack,
        cwd=typescript_client,
        env={**example_env(clients_stack), **NPM_ENV},
    )
    assert_edit_followed_to_success(run, clients_stack)
