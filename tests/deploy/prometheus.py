"""A real Prometheus (Debian's `prometheus` package) for tests: found on PATH, started
on a free port over a scrape config of the test's, and asked instant queries.

Without the package the tests that need it skip, unless ATELIER_REQUIRE_PROMETHEUS=1
(as in CI), where they fail instead.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from project.devredis import free_port

SCRAPE_INTERVAL = "1s"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; skips (or fails where required) without."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (apt-get install prometheus)"
        if os.environ.get("ATELIER_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"ATELIER_REQUIRE_PROMETHEUS=1 but {reason}")
        pytest.skip(reason)
    return found


@dataclass(frozen=True)
class Prometheus:
    url: str
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now; an error fails the test."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (expr, body)
        assert body["data"]["resultType"] == "vector", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def has_data(self, expr: str) -> bool:
        """Whether `expr` now gives at least one series with a number (not NaN, which a
        quantile of a histogram that saw nothing in its window is)."""
        return any(math.isfinite(float(series["value"][1])) for series in self.query(expr))

    def wait_until(self, exprs: list[str], timeout: float = 120) -> list[str]:
        """Poll until every one of `exprs` has data; those that never had are returned."""
        deadline = time.monotonic() + timeout
        pending = list(exprs)
        while pending and time.monotonic() < deadline:
            pending = [expr for expr in pending if not self.has_data(expr)]
            if pending:
                time.sleep(0.5)
        return pending


@contextmanager
def running_prometheus(program: str, folder: Path, jobs: Mapping[str, str]) -> Iterator[Prometheus]:
    """`program` (see `binary`) scraping `jobs` (job name to `host:port`, path /metrics) every
    second, its data in `folder`; stopped on exit, its log printed if the block fails."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [at]}]}
            for job, at in jobs.items()
        ],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    address = f"127.0.0.1:{free_port()}"
    log = folder / "prometheus.log"
    process = subprocess.Popen(
        [
            program,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://{address}", log)
    try:
        _wait_ready(server, process)
        yield server
    except BaseException:
        print(log.read_text(errors="replace")[-4000:])
        raise
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_ready(server: Prometheus, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"prometheus did not become ready; see {server.log}")
        time.sleep(0.1)
