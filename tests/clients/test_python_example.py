"""The Python example (gql over websockets) follows a task on a live stack to the result."""

from __future__ import annotations

import subprocess
import sys

from tests.clients.followed import ARGS, assert_followed_to_success, example_env
from tests.stack import ROOT, Stack


def test_example_follows_a_task_to_its_result(clients_stack: Stack) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "clients" / "python" / "example.py"), *ARGS],
        cwd=ROOT,
        env=example_env(clients_stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_followed_to_success(run, clients_stack)
