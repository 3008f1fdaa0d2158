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
import numpy as np
from PIL import Image

from tests.client import png_size
from tests.stack import ALICE_KEY, Stack
from tests.stepgate import held

# The cheapest task there is: tiny-random, 64x64, a few steps.
ARGS = [held("a red fox"), "--width", "64", "--height", "64", "--steps", "4"]
ARGS += ["--model", "tiny-random"]
# Image to image of a 96x72 picture (edit_args): two images, one seed each.
EDIT_SIZE = (96, 72)
EDIT_SEEDS = (5, 6)
SUBMITTED = re.compile(r"^submitted \S+ (\S+) to ", re.M)
BAR = re.compile(r"^\[[#.]{30}\]\s+(\d+)% (QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELLED)\b", re.M)
# "image:" for the one image of a result, "image 1:", "image 2:", ... for several.
IMAGE = re.compile(r"^image(?: \d+)?:\s+(http://\S+/images/\S+/result(?:-\d+)?\.png\?\S+)$", re.M)


def edit_args(folder: Path) -> list[str]:
    """An example's arguments for image to image of a picture it saves in `folder`:
    two images at half strength (4 of 8 steps run), held as ARGS' task is."""
    picture = folder / "picture.png"
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (EDIT_SIZE[1], EDIT_SIZE[0], 3), dtype=np.uint8)
    Image.fromarray(noise).save(picture)
    args = [held("a red fox, watercolour"), "--image", str(picture), "--strength", "0.5"]
    args += ["--steps", "8", "--num-images", "2", "--seed", str(EDIT_SEEDS[0])]
    return [*args, "--scheduler", "euler", "--model", "tiny-random"]


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


def assert_followed_to_success(
    run: subprocess.CompletedProcess[str],
    stack: Stack,
    kind: str = "IMAGE_GENERATION",
    sizes: tuple[tuple[int, int], ...] = ((64, 64),),
) -> list[bytes]:
    """That the example followed its task to SUCCEEDED and printed a working link to
    each image of the result, of `sizes`; the images' bytes."""
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
    assert re.search(rf"^SUCCEEDED {kind} \S+$", run.stdout, re.M), shown
    assert re.search(r'^metadata: \{.*"model": ?"tiny-random"', run.stdout, re.M), shown
    assert re.search(
        r"^made by:  tiny-random on cpu in \d+ steps \(\d+ ms\) \[demo", run.stdout, re.M
    ), shown
    urls = IMAGE.findall(run.stdout)
    assert len(urls) == len(sizes), shown
    images = []
    for url, size in zip(urls, sizes, strict=True):
        # The printed link is the signed one: it downloads with no headers.
        download = httpx.get(url, timeout=30)
        assert download.status_code == 200, download.text
        assert png_size(download.content) == size
        images.append(download.content)
    return images


def assert_edit_followed_to_success(run: subprocess.CompletedProcess[str], stack: Stack) -> None:
    """That the example ran `edit_args`' image to image: two images of the picture's
    size, each with its seed, at the strength asked for."""
    first, second = assert_followed_to_success(
        run, stack, kind="IMAGE_TO_IMAGE", sizes=(EDIT_SIZE, EDIT_SIZE)
    )
    assert first != second
    seeds = ", ".join(str(seed) for seed in EDIT_SEEDS)
    assert re.search(rf"^seeds:\s+{seeds}$", run.stdout, re.M), run.stdout
    assert re.search(r'^metadata: \{.*"strength": ?0\.5\b', run.stdout, re.M), run.stdout
    assert re.search(r'^metadata: \{.*"scheduler": ?"euler"', run.stdout, re.M), run.stdout
