"""The Python example (gql over websockets) follows a task on a live stack to the result:
text to image, and with --image image to image of several images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.clients.followed import (
    ARGS,
    assert_edit_followed_to_success,
    assert_followed_to_success,
    edit_args,
    example_env,
    run_example,
)
from tests.stack import ROOT, Stack

EXAMPLE = ROOT / "clients" / "python" / "example.py"


def test_example_follows_a_task_to_its_result(clients_stack: Stack) -> None:
    run = run_example(
        [sys.executable, str(EXAMPLE), *ARGS],
        clients_stack,
        cwd=ROOT,
        env=example_env(clients_stack),
    )
    assert_followed_to_success(run, clients_stack)


def test_example_redraws_a_picture_into_several_images(
    clients_stack: Stack, tmp_path: Path
) -> None:
    run = run_example(
        [sys.executable, str(EXAMPLE), *edit_args(tmp_path)],
        clients_stack,
        cwd=ROOT,
        env=example_env(clients_stack),
    )
    assert_edit_followed_to_success(run, clients_stack)


def test_example_refuses_a_size_or_a_strength_without_a_picture(tmp_path: Path) -> None:
    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64)).save(picture)
    run = example("a fox", "--image", str(picture), "--width", "64")
    assert run.returncode == 2 and "--image gives the size" in run.stderr, run.stderr
    run = example("a fox", "--strength", "0.5")
    assert run.returncode == 2 and "--strength needs --image" in run.stderr, run.stderr


def example(*args: str) -> subprocess.CompletedProcess[str]:
    """The example run with `args` (for those it refuses before connecting)."""
    command = [sys.executable, str(EXAMPLE), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)
