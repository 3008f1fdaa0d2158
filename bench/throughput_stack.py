"""Stack plumbing bench/throughput.py uses that is not throughput's own: other stack
benchmarks spell the same out, so it belongs in bench/harness.py and lives here only
until it moves there (nothing in it knows what throughput measures):

    scratch(prefix, redis_url)   a scratch folder and a Redis (the given one, else the
                                 local one, else an embedded one) for one run; on exit
                                 the embedded Redis is stopped and the folder removed
    cpu_roots(stack, redis_url)  the process trees a CpuMeter reads for a stack: its
                                 web nodes, its workers, its Redis server when local
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.harness import pick_redis, redis_pid
from project.devredis import EmbeddedRedis
from project.localstack import Stack

REDIS_ROOT = "redis (whole server)"


@contextmanager
def scratch(prefix: str, redis_url: str | None) -> Iterator[tuple[Path, str, EmbeddedRedis | None]]:
    """(folder, Redis URL, the embedded Redis or None) for one run. fanout.py,
    latency.py and redis_cost.py each repeat this mkdtemp/pick_redis/stop/rmtree."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        url, embedded = pick_redis(redis_url, work / "redis")
        try:
            yield work, url, embedded
        finally:
            if embedded:
                embedded.stop()
    finally:
        # The stack's logs and the embedded Redis's files: a run leaves nothing behind.
        shutil.rmtree(work, ignore_errors=True)


def cpu_roots(stack: Stack, redis_url: str) -> dict[str, list[int]]:
    """{"web": pids, "workers": pids, REDIS_ROOT: [pid]} of a started stack. The Redis
    server is left out when it runs elsewhere: its CPU cannot be read from /proc here,
    and a zero would read as "free". redis_cost.py's _pids finds the same roles."""
    roots = {
        "web": [p.popen.pid for p in stack.processes if p.name.startswith("web")],
        "workers": [p.popen.pid for p in stack.processes if p.name.startswith("worker")],
    }
    pid = redis_pid(redis_url)
    if pid is not None:
        roots[REDIS_ROOT] = [pid]
    return roots
