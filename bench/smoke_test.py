"""`make bench` in its quick form: every benchmark starts, measures and reports.
Part of `make test` (about two minutes); `make bench-smoke` runs it alone.

The figures of a smoke run mean little (few tasks, a loaded CI machine); what this
checks is that each benchmark runs end to end and produces its goals.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from project.localstack import ROOT


def test_every_benchmark_runs_and_reports_its_goals(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True
    for name in ("throughput", "latency", "fanout", "redis_cost", "uploads", "eta", "batching"):
        result = report["benchmarks"][name]
        assert "error" not in result, (name, result)
        for goal in result["goals"].values():  # measured, whether met or not
            assert goal["value"] is not None and goal["value"] > 0, (name, goal)
    assert report["benchmarks"]["throughput"]["ours"]["tasksPerS"] > 0
    assert report["benchmarks"]["redis_cost"]["perEvent"]
    for row in report["benchmarks"]["batching"]["worker"]["64"]["batched"].values():
        assert row["failed"] == [] and row["meanBatch"] >= 1, row
