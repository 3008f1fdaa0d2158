"""Baseline B: bare Dramatiq on Redis — send, a no-op actor, ack; no task records, no events.

What our job system would cost if it were nothing but Dramatiq: the same broker
(RedisBroker), the same Redis, the same worker layout as ours (`--threads 1`,
`dramatiq_queue_prefetch=1`) and Dramatiq's default middleware. The benchmark
sends N messages from one process while the workers run, and times from the first
send until every message is acked (the queue's message hash is empty: Dramatiq
deletes a message there when it is acked).

This module is also what the workers load, on a private namespace:

    BENCH_BARE_NAMESPACE=... dramatiq bench.bare_dramatiq:broker --processes 2 --threads 1

    python -m bench.bare_dramatiq [--messages 1000] [--processes 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.stats import tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NAMESPACE_ENV = "BENCH_BARE_NAMESPACE"
QUEUE = "bare"
ACTOR = "bench.noop"
LOCAL_URL = "redis://127.0.0.1:6379/0"

broker = RedisBroker(
    url=os.environ.get("REDIS_URL") or LOCAL_URL,
    namespace=os.environ.get(NAMESPACE_ENV, "bench-bare-dramatiq"),
)


@dramatiq.actor(broker=broker, actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
def noop() -> None:
    """Does nothing: what is measured is Dramatiq's own send, fetch and ack."""


def _message() -> dramatiq.Message:
    return dramatiq.Message(queue_name=QUEUE, actor_name=ACTOR, args=(), kwargs={}, options={})


def _wait_acked(sender: RedisBroker, deadline: float, interval: float = 0.002) -> float:
    """Until no message is left unacked; returns when that was seen (perf_counter)."""
    while sender.do_qsize(QUEUE):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sender.do_qsize(QUEUE)} messages still unacked")
        time.sleep(interval)
    return time.perf_counter()


def _wait_ready(log: Path, popen: subprocess.Popen[bytes], processes: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count("Worker process is ready for action.") >= processes:
            return
        if popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bare dramatiq workers did not start:\n{text[-4000:]}")
        time.sleep(0.05)


def run(
    *,
    quick: bool = False,
    messages: int = 1000,
    processes: int = 2,
    redis_url: str | None = None,
    prefetch: int = 1,
    worker_timeout: int = 100,
    warmup: int = 20,
    timeout: float = 300.0,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Start `processes` bare Dramatiq worker processes, send `messages` no-op messages
    (200 with quick=True) and time them until all are acked. `prefetch` and
    `worker_timeout` (ms) are Dramatiq's dramatiq_queue_prefetch and
    dramatiq_worker_timeout: the prefetch our Procfile sets, and a shorter idle poll
    than its (Dramatiq's default, 1000), which can only make this baseline faster.

    Returns {"messages", "processes", "prefetch", "workerTimeoutMs", "wallS", "sendS", "tasksPerS",
    "sendPerS", "workerCpuMsPerMessage", "notes"}; the workers are stopped and the
    private namespace's keys deleted before it returns.
    """
    messages = 200 if quick else messages
    url = redis_url or LOCAL_URL
    namespace = f"bench-bare-{uuid.uuid4().hex[:8]}"
    own_folder = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="atelier-bare-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "bare-dramatiq.log"
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": url,
        NAMESPACE_ENV: namespace,
        "dramatiq_queue_prefetch": str(prefetch),
        "dramatiq_worker_timeout": str(worker_timeout),
    }
    command = [str(BIN / "dramatiq"), "bench.bare_dramatiq:broker", "--threads", "1"]
    popen = subprocess.Popen(
        [*command, "--processes", str(processes)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sender = RedisBroker(url=url, namespace=namespace)
    try:
        _wait_ready(log, popen, processes, timeout=60)
        deadline = time.monotonic() + timeout
        for _ in range(warmup):
            sender.enqueue(_message())
        _wait_acked(sender, deadline)
        cpu_before = tree_cpu_seconds(popen.pid)
        started = time.perf_counter()
        for _ in range(messages):
            sender.enqueue(_message())
        sent = time.perf_counter()
        finished = _wait_acked(sender, deadline)
        cpu_used = tree_cpu_seconds(popen.pid) - cpu_before
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(5)
        client = redis.Redis.from_url(url)
        stale = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if stale:
            client.delete(*stale)
        client.close()
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)
    wall = finished - started
    return {
        "messages": messages,
        "processes": processes,
        "prefetch": prefetch,
        "workerTimeoutMs": worker_timeout,
        "wallS": round(wall, 3),
        "sendS": round(sent - started, 3),
        "tasksPerS": round(messages / wall, 1),
        "sendPerS": round(messages / (sent - started), 1),
        "workerCpuMsPerMessage": round(cpu_used / messages * 1000, 3),
        "notes": [
            "from the first send until every message is acked (polled every 2 ms); "
            "sent from one process while the workers run",
            "with prefetch=1 Dramatiq's Redis consumer sleeps at least 5-10 ms (its backoff, "
            "up to dramatiq_worker_timeout) while its one message is outstanding, so a "
            "no-op worker process manages only about 100 messages/s",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--worker-timeout", type=int, default=100, help="ms, as in the Procfile")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--quick", action="store_true", help="200 messages, for a smoke test")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(
        quick=args.quick,
        messages=args.messages,
        processes=args.processes,
        redis_url=args.redis_url,
        prefetch=args.prefetch,
        worker_timeout=args.worker_timeout,
    )
    result["benchWallS"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
