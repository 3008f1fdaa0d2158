"""What both examples must print: a progress bar per event, then the result.

The example's task is held at a step (tests.stepgate) until the example has printed
its first event, so it always sees the task before its end, however slowly the
example starts on a busy machine."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.client import png_size
from tests.stack import ALICE_KEY, Stack
from tests.stepgate import held

# The cheapest task there is: tiny-random, 64x64, a few steps.
ARGS = [held("a red fox"), "--width", "64", "--height", "64", "--steps", "4"]
ARGS += ["--model", "tiny-random"]
SUBMITTED = re.compile(r"^submitted \S+ (\S+) to ", re.M)
BAR = re.compile(r"^\[[#.]{30}\]\s+(\d+)% (QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELLED)\b", re.M)
IMAGE = re.compile(r"^image:\s+(http://\S+/images/\S+/result\.png\?\S+)$", re.M)


def example_env(stack: Stack) -> dict[str, str]:
    return {
        **stack.env,
        "ATELIER_URL": stack.ws_url,
        "ATELIER_API_KEY": ALICE_KEY,
        "PYTHONUNBUFFERED": "1",
    }


def run_example(
    command: list[str], stack: Stack, *, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run an example to its end, releasing its held task once it printed an event."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def drain_errors() -> None:
        assert process.stderr is not None
        errors.append(process.stderr.read())

    readers = [threading.Thread(target=pump), threading.Thread(target=drain_errors)]
    for reader in readers:
        reader.start()
    out, released, deadline = "", False, time.monotonic() + timeout
    try:
        while (line := lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            out += line
            submitted = SUBMITTED.search(out)
            if not released and submitted and BAR.search(out):
                stack.release(submitted.group(1))
                released = True
        returncode = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (queue.Empty, subprocess.TimeoutExpired):
        process.kill()
        returncode = process.wait()
    for reader in readers:
        reader.join()
    return subprocess.CompletedProcess(command, returncode, out, "".join(errors))


def assert_followed_to_success(run: subprocess.CompletedProcess[str], stack: Stack) -> None:
    shown = f"exit {run.returncode}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.returncode == 0, f"{shown}\n{stack.logs()}"
    bars = BAR.findall(run.stdout)
    # The first event is the task as the subscription found it (QUEUED, or already
    # RUNNING on an idle worker), then every change up to the terminal one.
    assert len(bars) >= 2, shown
    assert bars[0][1] in ("QUEUED", "RUNNING"), shown
    assert bars[-1] == ("100", "SUCCEEDED"), shown
    percents = [int(percent) for percent, _ in bars]
    assert percents == sorted(percents), shown  # progress never decreases
    assert re.search(r"^SUCCEEDED IMAGE_GENERATION \S+$", run.stdout, re.M), shown
    assert re.search(r'^metadata: \{.*"model": ?"tiny-random"', run.stdout, re.M), shown
    url = IMAGE.search(run.stdout)
    assert url, shown
    # The printed link is the signed one: it downloads with no headers.
    download = httpx.get(url.group(1), timeout=30)
    assert download.status_code == 200, download.text
    assert png_size(download.content) == (64, 64)
