"""`make bench`: every benchmark in one run, one table, bench/results/latest.json.

Each benchmark starts the processes it measures (Redis, daphne, Dramatiq workers)
and its baselines in the same run, and reports ratios to them as well as absolute
figures; `--quick` runs each in a reduced form (the smoke test in `make test`).

    python -m bench [--quick] [--only throughput,latency,fanout,redis_cost,batching] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import table

BENCHMARKS = ("throughput", "latency", "fanout", "redis_cost", "uploads", "eta", "batching")
RESULTS = Path(__file__).resolve().parent / "results"


def run_all(names: list[str], quick: bool) -> dict[str, Any]:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "benchmarks": {},
    }
    for name in names:
        started = time.monotonic()
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            result = importlib.import_module(f"bench.{name}").run(quick=quick)
        except Exception as error:  # one broken benchmark must not hide the others
            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {error}"}
        result["wallSeconds"] = round(time.monotonic() - started, 1)
        report["benchmarks"][name] = result
    return report


def goals_table(report: dict[str, Any]) -> str:
    rows = []
    for name, result in report["benchmarks"].items():
        if "error" in result:
            rows.append([name, "did not run", None, None, "ERROR: " + result["error"]])
        for goal, entry in result.get("goals", {}).items():
            rows.append([name, goal, entry["target"], entry["value"], _verdict(entry)])
    return table(["benchmark", "goal", "target", "measured", ""], rows)


def _verdict(entry: dict[str, Any]) -> str:
    return "met" if entry["met"] else "MISSED"


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")

    report = run_all(names, args.quick)
    for name, result in report["benchmarks"].items():
        if result.get("table"):
            print(f"\n{name}\n{result['table']}")
    print("\n" + goals_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {args.out}")
    broken = [name for name, result in report["benchmarks"].items() if "error" in result]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
