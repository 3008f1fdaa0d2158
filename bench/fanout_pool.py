"""The subscriber processes of one fan-out level, each a bench/fanout_client.py.

assign(tasks, subscribers, per_task, processes)
    the task id each subscriber follows (`per_task` subscribers per task), dealt
    round-robin to at most `processes` lists, none empty
Clients.spawn(folder, urls, assignment, concurrency)
    one process per list of `assignment`, connecting to the web nodes' `urls` in
    turn (a load balancer's round robin), at most `concurrency` connects at once;
    its spec and result files are folder/client-<n>.spec.json and client-<n>.json.
    A context manager: on exit it kills whichever process still runs.
Clients.cpu_counters()
    {"client<n>": CPU seconds of process n} for a stats.Sampler
Clients.wait_ready(timeout)
    returns once every process printed its ready line (each subscription held or
    refused); RuntimeError when one fails to within `timeout` seconds
Clients.finish(timeout)
    waits up to `timeout` seconds for the processes to end by themselves (every
    subscription completed), tells the rest to stop; returns their result files'
    contents, and when they were told to stop (time.time(); None when none was)
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.harness import reap
from bench.stats import live_cpu_seconds
from project.localstack import ALICE_KEY, ROOT


def assign(tasks: list[str], subscribers: int, per_task: int, processes: int) -> list[list[str]]:
    wanted = [tasks[index // per_task] for index in range(subscribers)]
    return [wanted[p::processes] for p in range(processes) if wanted[p::processes]]


@dataclass
class Clients:
    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)
    outs: list[Path] = field(default_factory=list)

    @classmethod
    def spawn(
        cls, folder: Path, urls: list[str], assignment: list[list[str]], concurrency: int
    ) -> Clients:
        clients = cls()
        for index, tasks in enumerate(assignment):
            out = folder / f"client-{index}.json"
            spec = folder / f"client-{index}.spec.json"
            spec.write_text(
                json.dumps(
                    {
                        "url": urls[index % len(urls)],
                        "key": ALICE_KEY,
                        "tasks": tasks,
                        "out": str(out),
                        "connect_concurrency": concurrency,
                        "connect_timeout": 30,
                    }
                )
            )
            popen = subprocess.Popen(
                [sys.executable, "-m", "bench.fanout_client", str(spec)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            clients.popens.append(popen)
            clients.outs.append(out)
        return clients

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *_: object) -> None:
        for popen in self.popens:
            reap(popen, 0)

    def cpu_counters(self) -> dict[str, Callable[[], float]]:
        return {
            f"client{n}": functools.partial(live_cpu_seconds, popen.pid)
            for n, popen in enumerate(self.popens)
        }

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for popen in self.popens:
            assert popen.stdout is not None
            line = _readline(popen.stdout, deadline - time.monotonic())
            if not line.startswith(b"{"):
                raise RuntimeError(f"a client process did not get ready: {line!r}")

    def finish(self, timeout: float) -> tuple[list[dict[str, Any]], float | None]:
        deadline = time.monotonic() + timeout
        for popen in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(max(0.0, deadline - time.monotonic()))
        running = [popen for popen in self.popens if popen.poll() is None]
        stopped_at = time.time() if running else None
        for popen in running:
            assert popen.stdin is not None
            # It may end between poll() and the write: then nothing needs telling.
            with contextlib.suppress(BrokenPipeError):
                popen.stdin.write(b"stop\n")
                popen.stdin.flush()
        for popen in self.popens:
            reap(popen, 30)
        return [json.loads(out.read_text()) for out in self.outs if out.exists()], stopped_at


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    # A pipe's readline has no timeout of its own, and a client stuck connecting must
    # not hang the benchmark: read in a thread and give up on it after `timeout`.
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(max(0.0, timeout))
    if not result:
        raise RuntimeError("timed out waiting for a client process to get ready")
    return result[0]
