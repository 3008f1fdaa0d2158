"""The Python example (gql over websockets) follows a task on a live stack to the result."""

from __future__ import annotations

import sys

from tests.clients.followed import ARGS, assert_followed_to_success, example_env, run_example
from tests.stack import ROOT, Stack


def test_example_follows_a_task_to_its_result(clients_stack: Stack) -> None:
    run = run_example(
        [sys.executable, str(ROOT / "clients" / "python" / "example.py"), *ARGS],
        clients_stack,
        cwd=ROOT,
        env=example_env(clients_stack),
    )
    assert_followed_to_success(run, clients_stack)
