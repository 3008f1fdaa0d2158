"""Profiling a running process with py-spy (`pip install py-spy`), and what its
collapsed stacks say.

    start_profiler(folder, pid, seconds)   py-spy record of `pid` into folder/web.collapsed
    finish_profiler(spy, folder)           wait for it; its path and profile_summary
    profile_summary(lines)                 top frames: self and inclusive share, and self
                                           by library, of the event loop's thread
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from project.localstack import BIN


def start_profiler(folder: Path, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    command = [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
    command += ["--duration", str(math.ceil(seconds)), "--format", "raw"]
    command += ["--output", str(folder / "web.collapsed")]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_profiler(spy: subprocess.Popen[bytes], folder: Path) -> dict[str, Any]:
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
    path = folder / "web.collapsed"
    if not path.exists():
        err = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
        return {"error": f"py-spy wrote nothing: {err[-500:]}"}
    return {"collapsed": str(path), **profile_summary(path.read_text().splitlines())}


_LINE = re.compile(r":\d+\)$")
AREAS = (
    "asyncio",
    "twisted",
    "autobahn",
    "daphne",
    "channels_redis",
    "channels",
    "redis",
    "strawberry",
    "graphql",
    "msgpack",
    "json",
    "django",
    "asgiref",
    "actors",
    "graph",
    "project",
)


def _area(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 :]
    for area in AREAS:
        if f"/{area}/" in path or path.startswith(f"{area}/"):
            return area
    if "site-packages" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/lib/python" in path:
        return "stdlib:" + path.rsplit("/", 1)[-1].split(".", 1)[0].split(":", 1)[0]
    return "other"


def profile_summary(
    lines: Iterable[str], top: int = 20, root: str = "<module> (daphne"
) -> dict[str, Any]:
    """Top frames of py-spy's collapsed stacks: self and inclusive share, and self by library.

    Only the event loop's thread counts (stacks from `root`): it is the web's
    bottleneck, and py-spy takes threads blocked in a queue or a sleep (the
    thread pool, the GC probe) for busy ones.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = elsewhere = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if not stack.startswith(root):
            elsewhere += count
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "otherThreadSamples": elsewhere,
        "selfPercent": share(own),
        "inclusivePercent": share(inclusive),
        "selfByLibraryPercent": share(areas) if total else [],
    }
