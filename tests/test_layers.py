"""The layering of ARCHITECTURE.md, read from the imports themselves: each package
imports only downward, and `graph/` reaches the job system through one module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> Iterator[tuple[str, str]]:
    """(file, imported module) for every import in `package`, lazy ones included."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from actors import jobs` imports actors.client.jobsystem.
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                yield str(path.relative_to(ROOT)), name


def offending(package: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path}: {name}"
        for path, name in imports(package)
        if name.split(".")[0] in forbidden and not name.startswith(allowed)
    ]


def test_graph_knows_the_job_system_only_through_its_interface() -> None:
    forbidden = ("actors", "pipelines", "dramatiq", "channels", "channels_redis", "redis", "torch")
    assert offending("graph", ("actors.interface",), forbidden) == []


def test_the_job_system_knows_nothing_of_graphql_or_django() -> None:
    forbidden = ("graph", "project", "strawberry", "graphql", "django", "channels")
    assert offending("actors", (), forbidden) == []


def test_pipelines_know_nothing_of_the_service() -> None:
    forbidden = ("actors", "graph", "project", "redis", "dramatiq", "django", "channels")
    assert offending("pipelines", (), forbidden) == []


def test_benchmarks_share_nothing_with_the_tests_but_through_the_project() -> None:
    assert offending("bench", (), ("tests",)) == []


def test_the_service_does_not_run_the_local_stack_tooling() -> None:
    # project.localstack and localclient need the dev extras: tests and benchmarks only.
    tooling = ("project.localstack", "project.localclient")
    used = [
        f"{path}: {name}"
        for path, name in imports("project")
        if name.startswith(tooling)
        and not path.startswith(("project/localstack", "project/localclient"))
    ]
    assert used == []
