"""What both examples must print: a progress bar per event, then the result."""

from __future__ import annotations

import re
import subprocess

import httpx

from tests.client import png_size
from tests.stack import ALICE_KEY, Stack

# The cheapest task there is: tiny-random, 64x64, a few steps.
ARGS = ["a red fox", "--width", "64", "--height", "64", "--steps", "4", "--model", "tiny-random"]
BAR = re.compile(r"^\[[#.]{30}\]\s+(\d+)% (QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELLED)\b", re.M)
IMAGE = re.compile(r"^image:\s+(http://\S+/images/\S+/result\.png\?\S+)$", re.M)


def example_env(stack: Stack) -> dict[str, str]:
    return {**stack.env, "ATELIER_URL": stack.ws_url, "ATELIER_API_KEY": ALICE_KEY}


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
