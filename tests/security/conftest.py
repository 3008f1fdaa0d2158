"""One hostile-input stack for the whole folder, locked down as in production.

Submissions and reads are not throttled here (fuzzing would be); `test_admission.py` starts
its own stack with tight admission limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.hostile import OUTCOMES, RawApi, assert_healthy
from tests.stack import ALICE_KEY, BOB_KEY, Stack, running_stack

HOSTILE_ENV = {
    "ATELIER_SUBMIT_RATE": "1000",
    "ATELIER_SUBMIT_BURST": "1000",
    # Fuzzing reads far faster than any client: read costs have their own tests.
    "ATELIER_READ_RATE": "10000",
    "ATELIER_READ_BURST": "10000",
    "ATELIER_INTROSPECTION": "0",
    "ATELIER_DEBUG": "0",
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
    "ATELIER_WS_INIT_TIMEOUT": "1",
}


@pytest.fixture(scope="session")
def hostile_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("hostile-stack")
    with running_stack(redis_url, folder, stack_models, HOSTILE_ENV) as stack:
        yield stack


@pytest.fixture
def alice(hostile_stack: Stack) -> Iterator[RawApi]:
    """Alice's client. After the test, pass or fail, the service must still be healthy."""
    api = RawApi(hostile_stack, ALICE_KEY)
    yield api
    assert_healthy(api)


@pytest.fixture
def bob(hostile_stack: Stack) -> RawApi:
    return RawApi(hostile_stack, BOB_KEY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if OUTCOMES:
        counts = ", ".join(f"{code}={n}" for code, n in sorted(OUTCOMES.items()))
        terminalreporter.write_line(f"hostile cases by outcome: {counts}")
