"""A local stack of real processes: daphne serving the API and Dramatiq workers, each
with its own log (its GraphQL client: project.localclient). What the end-to-end tests
(tests/stack.py) and the benchmarks (bench/) both start.

    Stack(redis_url, folder, model_dir, extra_env)   one deployment's settings; its
        start_web(), start_worker(), wait_for_log(), stop(), purge(), logs(), held()
        and running() (a web node and one worker ready for tasks, stopped on exit)
    Process                                          one started process and its log

Each stack gets its own key prefix, broker namespace and channel prefix, so several
stacks (and a developer's own `make run`) can share one Redis. It accepts the well-known
keys ALICE_KEY and BOB_KEY, and OPS_KEY as an admin key: local use only, never a
deployment's. Development tooling: it needs the `dev` extra (httpx, gql), and nothing
the service runs imports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import redis

from actors.store.redisurl import RedisTarget
from project.devredis import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# What a Dramatiq worker process logs once its pipelines are preloaded and it takes tasks.
WORKER_READY = "Worker process is ready for action."

ALICE_KEY = "alice-test-key-0123456789"
BOB_KEY = "bob-test-key-9876543210"
# An admin key (ATELIER_ADMIN_KEYS): the operators' view, and an ordinary key besides.
OPS_KEY = "ops-test-key-5555555555"


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.popen.poll() is not None:
            return
        # Dramatiq and daphne both run children: signal the whole process group.
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def terminate(self) -> None:
        """SIGTERM to the leader only, as `docker stop` does. Dramatiq's main process
        forwards it to its worker process; a second SIGTERM (e.g. to the whole group)
        would make that worker quit at once instead of draining."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole process tree: the host died, nothing cleans up."""
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Stack:
    """One deployment's settings (Redis, model folder, `extra_env` over the defaults of
    `settings`) and the processes started for it, their logs in `folder`. Its workers
    import `worker_modules` besides project.worker (e.g. a test hook)."""

    redis_url: str
    folder: Path
    model_dir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: list[Process] = field(default_factory=list)
    worker_modules: tuple[str, ...] = ()

    def settings(self) -> dict[str, str]:
        """The stack's own settings, before `extra_env`."""
        return {
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.redis_url,
            "ATELIER_PORT": str(self.port),
            "ATELIER_KEY_PREFIX": f"test-{self.tag}:",
            "ATELIER_BROKER_NAMESPACE": f"test-{self.tag}-dramatiq",
            "ATELIER_CHANNEL_PREFIX": f"test-{self.tag}-channels",
            "ATELIER_MODEL_DIR": str(self.model_dir),
            "ATELIER_API_KEYS": f"alice:{ALICE_KEY},bob:{BOB_KEY}",
            "ATELIER_ADMIN_KEYS": f"ops:{OPS_KEY}",
            "ATELIER_SECRET_KEY": f"secret-{self.tag}",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "dramatiq_queue_prefetch": "1",
            "dramatiq_worker_timeout": "100",
            # Tests submit in bursts; the admission tests set their own limits.
            "ATELIER_SUBMIT_RATE": "1000",
            "ATELIER_SUBMIT_BURST": "1000",
        }

    @property
    def env(self) -> dict[str, str]:
        """The environment every process of the stack starts with."""
        return {**os.environ, **self.settings(), **self.extra_env}

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def _spawn(self, name: str, command: list[str]) -> Process:
        log = self.folder / f"{name}.log"
        self.folder.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_web(self, port: int | None = None) -> Process:
        """A web node on the stack's port, or on `port` (one more node of the same
        deployment: same Redis, prefixes and keys); returns once it reaches Redis
        (its /readyz may still say no worker has been seen)."""
        port = port or self.port
        web = self._spawn(
            f"web-{port}",
            [str(BIN / "daphne"), "--port", str(port), "project.asgi:application"],
        )
        deadline = time.monotonic() + 60
        while True:
            if web.popen.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{web.output()}")
            try:
                if redis_ok(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)):
                    return web
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not become healthy:\n{web.output()}")
            time.sleep(0.1)

    def start_worker(self, name: str = "worker", queues: list[str] | None = None) -> Process:
        """A Dramatiq worker, on every queue or only on `queues`."""
        return self._spawn(
            f"{name}-{len(self.processes)}",
            [
                str(BIN / "dramatiq"),
                "project.worker",
                *self.worker_modules,
                "--processes",
                "1",
                "--threads",
                "1",
                "--worker-shutdown-timeout",
                "60000",
                *(["--queues", *queues] if queues else []),
            ],
        )

    def wait_for_log(self, process: Process, text: str, timeout: float = 60) -> None:
        """Until `text` appears in the process's log (e.g. a worker ready for tasks)."""
        deadline = time.monotonic() + timeout
        while text not in process.output():
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} never logged {text!r}:\n{process.output()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    @contextmanager
    def held(self, purge: bool = True) -> Iterator[Self]:
        """This stack, stopped on exit (and its keys purged, unless its Redis may be gone
        by then); its processes' logs printed if the block fails."""
        try:
            yield self
        except BaseException:
            print(self.logs())
            raise
        finally:
            self.stop()
            if purge:
                self.purge()

    @contextmanager
    def running(self) -> Iterator[Self]:
        """A web node and one worker ready for tasks, stopped on exit; their logs printed
        if starting fails."""
        with self.held() as stack:
            stack.start_web()
            # Preloading pipelines takes a while on a loaded machine: tests that time a
            # task must not be timing the worker's start.
            stack.wait_for_log(stack.start_worker(), WORKER_READY, timeout=300)
            yield stack

    def purge(self) -> None:
        """Delete this stack's keys (task store, queues, channel layer) from Redis, so
        runs leave nothing behind in a shared one."""
        env = self.env
        prefixes = (
            env["ATELIER_KEY_PREFIX"],
            env["ATELIER_BROKER_NAMESPACE"],
            env["ATELIER_CHANNEL_PREFIX"],
        )
        try:
            client = RedisTarget.parse(self.redis_url).client(socket_connect_timeout=1)
            for prefix in prefixes:
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
        except redis.RedisError:
            pass  # Redis is already gone (a test stopped it): nothing to leave behind

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in self.processes)


def redis_ok(readyz: httpx.Response) -> bool:
    """Whether a /readyz answer says Redis is reachable, whatever it says of workers."""
    try:
        return readyz.json().get("checks", {}).get("redis") == "ok"
    except ValueError:
        return False


# -- the client -------------------------------------------------------------------
