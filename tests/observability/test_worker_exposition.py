"""Where a worker keeps its metrics: a directory per Dramatiq instance, cleared of what
dead processes left, so workers sharing a host never add up each other's figures and
a restarted one starts from zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from project.workermetrics import SHARED_ROOT, WorkerExposition

REPO = Path(__file__).resolve().parent.parent.parent


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def prepare_in_a_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`prepare` as a worker process runs it (it points prometheus_client at the files:
    not something to do to the test process)."""
    code = (
        "import os; from project.workermetrics import WorkerExposition\n"
        "exposition = WorkerExposition.from_env(os.environ)\n"
        "exposition.prepare()\n"
        "from prometheus_client import Counter\n"
        "Counter('made_after_prepare', 'a metric of this process').inc()\n"
        "print(exposition.directory, os.environ['PROMETHEUS_MULTIPROC_DIR'])\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_prepare_clears_dead_processes_files_and_keeps_live_ones(tmp_path: Path) -> None:
    stale = tmp_path / f"counter_{dead_pid()}.db"
    live = tmp_path / f"histogram_{os.getpid()}.db"  # this test's process: alive
    for path in (stale, live):
        path.write_bytes(b"")

    done = prepare_in_a_process({"ATELIER_WORKER_METRICS_DIR": str(tmp_path)})

    assert done.stdout.split() == [str(tmp_path), str(tmp_path)]
    assert not stale.exists()
    assert live.exists()
    # Metrics made after `prepare` live in the directory, under their process's pid.
    assert [path.name.split("_")[0] for path in tmp_path.glob("counter_*.db")] == ["counter"]


def test_each_dramatiq_instance_gets_a_directory_of_its_own() -> None:
    here = WorkerExposition.from_env({})
    assert here.directory == SHARED_ROOT / str(os.getppid())
    assert (here.host, here.port) == ("127.0.0.1", 9191)

    done = prepare_in_a_process({})

    # A child of this process: its instance is this test process.
    assert done.stdout.split()[0] == str(SHARED_ROOT / str(os.getpid()))


def test_port_zero_serves_nothing() -> None:
    assert not WorkerExposition.from_env({"ATELIER_WORKER_METRICS_PORT": "0"}).enabled


def test_a_port_that_is_no_number_is_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="ATELIER_WORKER_METRICS_PORT"):
        WorkerExposition.from_env({"ATELIER_WORKER_METRICS_PORT": "off"})
