"""What Redis does and who asks it, for bench/redis_cost.py: a Redis server's own
accounting, what MONITOR shows, which local process holds each connection, and
Redis's own throughput on this machine.

    port_roles(roles, redis_port)     local port -> role of each connection the roles'
                                      processes hold to Redis (their sockets in /proc)
    script_names()                    SHA1 -> name of every Lua script the system runs
    Monitor(url)                      MONITOR between markers: commands by (sender,
                                      command), script calls and their inner commands
    commandstats(client), Snapshot    INFO commandstats, connections and Redis CPU at
                                      one moment (the benchmark's own commands left out)
    commandstats_delta(after, before) the commands run between two commandstats
    redis_ops_per_second(host, port)  SET/GET/INCR ops/s (redis-benchmark, else Python)
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import redis

from bench.stats import cpu_seconds

OWN_COMMANDS = {"info", "echo", "monitor"}  # the benchmark's own, left out of the counts


# -- which process sent a command: local ports of each process's Redis sockets -----------


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _ports_by_inode(remote_port: int) -> dict[int, int]:
    """Local port of every TCP connection to `remote_port`, by socket inode."""
    found = {}
    for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table_path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(remote.rsplit(":", 1)[1], 16) == remote_port:
                found[inode] = int(local.rsplit(":", 1)[1], 16)
    return found


def port_roles(roles: Mapping[str, Sequence[int]], redis_port: int) -> dict[int, str]:
    """Local port -> role, for every connection the roles' processes hold to Redis."""
    by_inode = _ports_by_inode(redis_port)
    ports = {}
    for role, pids in roles.items():
        for pid in pids:
            for inode in _socket_inodes(pid):
                if inode in by_inode:
                    ports[by_inode[inode]] = role
    return ports


# -- MONITOR: top-level commands vs commands inside scripts, per sender ------------------


def script_names() -> dict[str, str]:
    """SHA1 -> name of every Lua script the system runs: the task store's, admission's,
    the worker registry's and Dramatiq's dispatch script (named by its command:
    dramatiq:fetch, :ack, ...)."""
    from dramatiq.brokers import redis as dramatiq_redis

    from actors.client import admission
    from actors.store import registry, scripts

    names = {}
    for module, prefix in ((scripts, "store:"), (admission, "admission:"), (registry, "workers:")):
        for name, value in vars(module).items():
            if name.lstrip("_").isupper() and isinstance(value, str) and "redis.call" in value:
                names[hashlib.sha1(value.encode()).hexdigest()] = prefix + name.lstrip("_").lower()
    for name, body in dramatiq_redis._scripts.items():
        names[hashlib.sha1(body).hexdigest()] = f"dramatiq:{name}"
    return names


QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Monitor:
    """Counts the commands MONITOR shows between markers: `mark(name)` starts a
    segment, `counts(name)` / `scripts(name)` return it once the next marker was seen.

    Redis 7 shows a script's own commands (source "lua") right after the EVALSHA that
    ran them, so they are attributed to that script."""

    def __init__(self, url: str) -> None:
        self._names = script_names()
        self._client = redis.Redis.from_url(url)
        self._control = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self._segments: dict[str, Counter[tuple[str, str]]] = {}
        self._script_segments: dict[str, dict[str, Counter[str]]] = {}
        self._current: Counter[tuple[str, str]] | None = None
        self._scripts: dict[str, Counter[str]] | None = None
        self._seen: set[str] = set()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="bench-monitor", daemon=True)
        self._thread.start()

    def _script(self, rest: str) -> str:
        tokens = []
        for match in QUOTED.finditer(rest):
            tokens.append(match.group(1))
            if len(tokens) == 5:
                break
        name = (
            self._names.get(tokens[1].lower(), f"unknown:{tokens[1][:8]}")
            if len(tokens) > 1
            else "?"
        )
        if name == "dramatiq:dispatch" and len(tokens) == 5:
            return f"dramatiq:{tokens[4]}"
        return name

    def _read(self) -> None:
        connection = self._monitor.connection
        script = "?"
        while True:
            try:
                raw = connection.read_response()
            except (redis.ConnectionError, OSError, ValueError):
                return
            line = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            open_at, close_at = line.find("["), line.find("]")
            if open_at < 0 or close_at < 0:
                continue
            source = line[open_at + 1 : close_at].split(" ", 1)[-1]
            rest = line[close_at + 2 :]
            command = rest[1 : rest.find('"', 1)].lower() if rest.startswith('"') else rest
            if command == "echo" and "bench-mark:" in rest:
                name = rest.split("bench-mark:", 1)[1].rstrip('"')
                with self._cond:
                    self._current = self._segments.setdefault(name, Counter())
                    self._scripts = self._script_segments.setdefault(
                        name, {"calls": Counter(), "inner": Counter()}
                    )
                    self._seen.add(name)
                    self._cond.notify_all()
                continue
            if command in OWN_COMMANDS or self._current is None or self._scripts is None:
                continue
            with self._cond:
                self._current[(source, command)] += 1
                if source == "lua":
                    self._scripts["inner"][script] += 1
                elif command in ("evalsha", "eval"):
                    script = self._script(rest)
                    self._scripts["calls"][script] += 1

    def mark(self, name: str, timeout: float = 10) -> None:
        """Start segment `name` (ending the one before) and wait until MONITOR got there."""
        self._control.echo(f"bench-mark:{name}")
        with self._cond:
            if not self._cond.wait_for(lambda: name in self._seen, timeout):
                raise RuntimeError("MONITOR did not see the marker")

    def counts(self, name: str) -> Counter[tuple[str, str]]:
        """(source, command) -> calls; source is "lua" inside scripts, else host:port."""
        with self._cond:
            return Counter(self._segments.get(name, Counter()))

    def scripts(self, name: str) -> dict[str, Counter[str]]:
        """{"calls": script -> EVALSHA calls, "inner": script -> commands run inside}."""
        with self._cond:
            found = self._script_segments.get(name, {"calls": Counter(), "inner": Counter()})
            return {key: Counter(value) for key, value in found.items()}

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            self._monitor.__exit__(None, None, None)
        self._client.close()
        self._control.close()
        self._thread.join(5)


# -- INFO snapshots ----------------------------------------------------------------------


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Command -> (calls, usec), the benchmark's own commands left out."""
    stats = cast(dict[str, dict[str, Any]], client.info("commandstats"))
    result = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_").lower()
        if name not in OWN_COMMANDS:
            result[name] = (int(value["calls"]), int(value["usec"]))
    return result


def commandstats_delta(
    after: Mapping[str, tuple[int, int]], before: Mapping[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    delta = {}
    for name, (calls, usec) in after.items():
        was_calls, was_usec = before.get(name, (0, 0))
        if calls - was_calls:
            delta[name] = (calls - was_calls, usec - was_usec)
    return delta


class Snapshot:
    def __init__(self, client: redis.Redis, redis_pid: int) -> None:
        self.at = time.perf_counter()
        self.commands = commandstats(client)
        stats = cast(dict[str, Any], client.info("stats"))
        self.connections = int(stats["total_connections_received"])
        self.cpu = cpu_seconds(redis_pid)


# -- Redis's own throughput on this machine ------------------------------------------------


def redis_ops_per_second(host: str, port: int, requests: int) -> dict[str, Any]:
    """SET/GET/INCR throughput, pipelined 16 deep and not pipelined, 50 connections."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return _python_ops(host, port, requests)
    result: dict[str, Any] = {"tool": "redis-benchmark", "requests": requests}
    for label, pipeline in (("pipelined16", 16), ("notPipelined", 1)):
        count = requests if pipeline > 1 else max(requests // 4, 1000)
        output = subprocess.run(
            [
                *(binary, "-h", host, "-p", str(port), "-q", "--csv", "-t", "set,get,incr"),
                *("-P", str(pipeline), "-n", str(count), "-c", "50"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
        rates = {}
        for row in csv.reader(io.StringIO(output)):
            if len(row) >= 2 and row[0] != "test":
                try:
                    rates[row[0]] = float(row[1])
                except ValueError:
                    continue
        result[label] = {"opsPerS": rates, "meanOpsPerS": round(sum(rates.values()) / len(rates))}
    return result


def _incr_loop(url: str, seconds: float, queue: Any) -> None:
    client = redis.Redis.from_url(url)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with client.pipeline(transaction=False) as pipe:
            for _ in range(100):
                pipe.incr("bench:ops")
            pipe.execute()
        done += 100
    queue.put(done)


def _python_ops(host: str, port: int, requests: int, seconds: float = 3.0) -> dict[str, Any]:
    """Fallback: as many processes as cores pipelining INCR 100 at a time."""
    url = f"redis://{host}:{port}/0"
    queue: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_incr_loop, args=(url, seconds, queue))
        for _ in range(os.cpu_count() or 2)
    ]
    for worker in workers:
        worker.start()
    total = sum(queue.get() for _ in workers)
    for worker in workers:
        worker.join()
    rate = round(total / seconds)
    return {
        "tool": "python fallback (INCR, pipelined 100, one process per core)",
        "requests": total,
        "pipelined16": {"opsPerS": {"INCR": rate}, "meanOpsPerS": rate},
        "notPipelined": None,
    }
