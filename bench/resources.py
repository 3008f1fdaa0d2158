"""What one benchmark run uses besides the stack itself, and the CPU it spends:

scratch(prefix, redis_url)   a scratch folder and a Redis (the given one, else the
                             local one, else an embedded one) for one run; on exit
                             the embedded Redis is stopped and the folder removed
pick_redis(url, folder)      the given Redis, the local one, or an embedded one
redis_pid(url)               the Redis server's pid when it runs on this machine
cpu_roots(stack, redis_url)  the process trees a CpuMeter reads for a stack
CpuMeter                     CPU seconds of process trees over a window
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis

from bench.stats import cpu_seconds, tree_cpu_seconds
from project.devredis import LOCAL_URL, EmbeddedRedis, reachable
from project.localstack import Stack

REDIS_ROOT = "redis (whole server)"


@contextmanager
def scratch(
    prefix: str, redis_url: str | None, *, keep: bool = False
) -> Iterator[tuple[Path, str, EmbeddedRedis | None]]:
    """(folder, Redis URL, the embedded Redis or None) for one run; `keep` leaves the
    folder (its logs) in place."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        url, embedded = pick_redis(redis_url, work / "redis")
        try:
            yield work, url, embedded
        finally:
            if embedded:
                embedded.stop()
    finally:
        if not keep:
            # The stack's logs and the embedded Redis's files: a run leaves nothing behind.
            shutil.rmtree(work, ignore_errors=True)


def pick_redis(url: str | None, folder: Path) -> tuple[str, EmbeddedRedis | None]:
    """`url` when given; else the local Redis when it answers, else an embedded one
    started in `folder` (returned too: the caller stops it)."""
    if url is not None:
        return url, None
    embedded = None if reachable(LOCAL_URL) else EmbeddedRedis(folder).start()
    return (embedded.url if embedded else LOCAL_URL), embedded


def redis_pid(url: str) -> int | None:
    """The Redis server's pid, when it runs on this machine (its CPU is then readable)."""
    try:
        client = redis.Redis.from_url(url)
        pid = int(client.info("server")["process_id"])
        client.close()
    except (redis.RedisError, KeyError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def cpu_roots(stack: Stack, redis_url: str) -> dict[str, list[int]]:
    """{"web": pids, "workers": pids, REDIS_ROOT: [pid]} of a started stack. The Redis
    server is left out when it runs elsewhere: its CPU cannot be read from /proc here,
    and a zero would read as "free"."""
    roots = {
        "web": [p.popen.pid for p in stack.processes if p.name.startswith("web")],
        "workers": [p.popen.pid for p in stack.processes if p.name.startswith("worker")],
    }
    pid = redis_pid(redis_url)
    if pid is not None:
        roots[REDIS_ROOT] = [pid]
    return roots


class CpuMeter:
    """CPU seconds used by named process trees (and this process) over a window."""

    def __init__(self, roots: Mapping[str, Sequence[int]]) -> None:
        self.roots = roots
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        used = {
            name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in self.roots.items()
        }
        used["bench client"] = cpu_seconds(os.getpid())
        return used

    def per_task_ms(self, tasks: int) -> dict[str, float]:
        end = self._read()
        return {name: round((end[name] - self.start[name]) / tasks * 1000, 2) for name in end}
