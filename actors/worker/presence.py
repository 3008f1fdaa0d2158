"""Dramatiq middleware that keeps a worker process in the worker registry (actors.store.registry).

After boot it announces the process and then re-announces it every `every` seconds
from a thread of its own, and at once when the process starts or ends a task, or
starts shutting down. The last announcement is withdrawn after a clean shutdown;
a killed worker's entry lapses by itself.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name

from actors.store.outage import OUTAGES
from actors.store.registry import CurrentTask, LoadedModel, WorkerInfo, WorkerRegistry
from actors.webhooks.config import QUEUE as WEBHOOKS

logger = logging.getLogger(__name__)

# After a failed announcement (Redis out), try again this soon rather than a period
# later, so the worker is visible again shortly after Redis is back.
_RETRY_AFTER = 1.0


def default_worker_id() -> str:
    """The worker id "host:pid", as task records name the worker running them."""
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerPresence(Middleware):
    """`registry` and `loaded` are called in the worker process, not where the broker
    is built. `loaded` gives the keys of the pipeline cache (see `LoadedModel`);
    `identity` the worker's id, which must match what task records name."""

    def __init__(
        self,
        registry: Callable[[], WorkerRegistry],
        *,
        loaded: Callable[[], Iterable[Hashable]],
        every: float,
        identity: Callable[[], str] = default_worker_id,
    ) -> None:
        self._make_registry = registry
        self._loaded = loaded
        self._identity = identity
        self._every = every
        self._lock = threading.Lock()
        # worker thread -> its tasks (more than one when they share a pipeline call)
        self._running: dict[int, tuple[CurrentTask, ...]] = {}
        self._stopping = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._me: WorkerInfo | None = None
        self._registry: WorkerRegistry | None = None

    # -- Dramatiq hooks ------------------------------------------------------
    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        # On the main thread, before any worker thread: whatever `loaded` builds
        # (the task runner) is built once.
        self._loaded()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        # Consumers exist by now: one per queue this process takes (and its delay queue).
        # The queues it takes tasks from: webhook deliveries are not tasks.
        queues = sorted({q_name(name) for name in worker.consumers} - {WEBHOOKS})
        identity = self._identity()
        host, _, pid = identity.rpartition(":")
        self._me = WorkerInfo(
            id=identity,
            host=host or socket.gethostname(),
            pid=int(pid) if pid.isdigit() else os.getpid(),
            queues=tuple(queues),
        )
        self._registry = self._make_registry()
        self._thread = threading.Thread(target=self._loop, name="atelier-presence", daemon=True)
        self._thread.start()

    def running(self, tasks: Sequence[CurrentTask]) -> None:
        """The worker thread calling this started `tasks`: the one its message ran (a
        message does not pin which task runs, see actors.store.tasks), and those that
        joined it in one pipeline call (actors.worker.batching)."""
        with self._lock:
            self._running[threading.get_ident()] = tuple(tasks)
        self._wake.set()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        self._finished(message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._finished(message)

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        with self._lock:
            self._stopping = True
        self._wake.set()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._thread is None or self._me is None or self._registry is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        try:
            self._registry.withdraw(self._me.id)
        except Exception as error:  # the entry lapses by itself
            logger.warning("could not withdraw from the worker registry: %s", error)

    # -- announcing ----------------------------------------------------------
    def _finished(self, message: MessageProxy) -> None:
        # Dramatiq calls this on the thread that processed the message.
        with self._lock:
            found = self._running.pop(threading.get_ident(), None)
        if found is not None:
            self._wake.set()

    def _snapshot(self) -> WorkerInfo:
        assert self._me is not None
        models = (LoadedModel.from_cache_key(key) for key in tuple(self._loaded()))
        with self._lock:
            tasks = tuple(task for running in self._running.values() for task in running)
            stopping = self._stopping
        return replace(
            self._me,
            models=tuple(model for model in models if model is not None),
            tasks=tasks,
            stopping=stopping,
        )

    def _loop(self) -> None:
        assert self._registry is not None
        down = False
        while not self._stop.is_set():
            self._wake.clear()
            wait = self._every
            try:
                announced = self._registry.announce(self._snapshot())
            except OUTAGES as error:
                if not down:
                    logger.warning("worker registry not updated, Redis unavailable: %s", error)
                down, wait = True, min(self._every, _RETRY_AFTER)
            except Exception:
                logger.exception("worker registry not updated")
            else:
                if down:
                    logger.info("worker registry updated again")
                down = False
                # Kept, so an entry that lapsed meanwhile comes back with its start.
                self._me = announced
            self._wake.wait(wait)
