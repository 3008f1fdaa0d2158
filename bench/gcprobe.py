"""A probe of a Python process's garbage collections, loaded as a sitecustomize (the
fan-out benchmark puts it into its web nodes).

    GC_PROBE                 the sitecustomize: with FANOUT_GC_STATS=PATH in a daphne
                             process, times its collections (gc.callbacks) and writes
                             the totals to PATH.<pid> every 0.5 s; FANOUT_WEB_GC=tuned
                             also tries gc.freeze() (once PATH.freeze exists) and a
                             higher gen-0 threshold
    read_stats(path)         one such file, None when absent or half-written
    gc_delta(before, after)  the collections between two of them, per generation
    gc_total(nodes)          several processes' deltas added up
    gc_cell(gc)              "CPU s (max pause)" for a table
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Loaded into the web process only (a sitecustomize on its PYTHONPATH): times its
# garbage collections through gc.callbacks and writes the totals to a file every
# 0.5 s. With FANOUT_WEB_GC=tuned it also tries the fix proposed for GC pauses:
# gc.freeze() once the app is loaded, and a higher gen-0 threshold.
GC_PROBE = """
import gc, json, os, sys, threading, time
_path = os.environ.get("FANOUT_GC_STATS")
if _path and "daphne" in sys.argv[0]:
    _marker, _path = _path + ".freeze", f"{_path}.{os.getpid()}"
    _stats = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0], "cpuSeconds": [0.0, 0.0, 0.0],
              "maxPauseSeconds": [0.0, 0.0, 0.0]}
    _began = [0.0, 0.0]

    def _timed(phase, info):
        if phase == "start":
            _began[0], _began[1] = time.perf_counter(), time.thread_time()
            return
        generation, pause = info["generation"], time.perf_counter() - _began[0]
        _stats["collections"][generation] += 1
        _stats["seconds"][generation] += pause
        _stats["cpuSeconds"][generation] += time.thread_time() - _began[1]
        _stats["maxPauseSeconds"][generation] = max(_stats["maxPauseSeconds"][generation], pause)

    gc.callbacks.append(_timed)
    _tuned = os.environ.get("FANOUT_WEB_GC") == "tuned"
    if _tuned:
        gc.set_threshold(50_000, 20, 100)

    def _write():
        frozen = False
        while True:
            time.sleep(0.5)
            if _tuned and not frozen and os.path.exists(_marker):
                gc.freeze()
                frozen = True
            _stats["at"] = time.time()
            _stats["frozen"] = gc.get_freeze_count()
            _stats["threshold"] = gc.get_threshold()
            with open(_path + ".tmp", "w") as out:
                json.dump(_stats, out)
            os.replace(_path + ".tmp", _path)

    threading.Thread(target=_write, name="fanout-gc-probe", daemon=True).start()
"""


def read_stats(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def gc_delta(
    before: dict[str, Any] | None, after: dict[str, Any] | None, mode: str
) -> dict[str, Any] | None:
    """The web's garbage collections during the emission window, per generation."""
    if before is None or after is None:
        return None

    def delta(name: str, digits: int) -> list[float]:
        return [round(b - a, digits) for a, b in zip(before[name], after[name], strict=True)]

    return {
        "mode": mode,
        "collections": delta("collections", 0),
        "cpuSeconds": delta("cpuSeconds", 3),
        "pauseSeconds": delta("seconds", 3),
        "maxPauseSecondsEver": [round(v, 3) for v in after["maxPauseSeconds"]],
        "frozenObjects": after["frozen"],
    }


def gc_total(nodes: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The nodes' collections added up (pauses: the longest)."""
    if not nodes or any(node is None for node in nodes):
        return None
    known = [node for node in nodes if node is not None]
    total = dict(known[0])
    for node in known[1:]:
        for name in ("collections", "cpuSeconds", "pauseSeconds"):
            total[name] = [round(a + b, 3) for a, b in zip(total[name], node[name], strict=True)]
        total["maxPauseSecondsEver"] = [
            max(a, b)
            for a, b in zip(total["maxPauseSecondsEver"], node["maxPauseSecondsEver"], strict=True)
        ]
        total["frozenObjects"] += node["frozenObjects"]
    return total


def gc_cell(gc: Mapping[str, Any] | None) -> str:
    if not gc:
        return "-"
    return f"{sum(gc['cpuSeconds']):.2f} ({max(gc['maxPauseSecondsEver']):.2f})"
