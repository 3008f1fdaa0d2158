"""A worker's Prometheus metrics: where its processes keep them, and the endpoint serving them.

`dramatiq project.worker` is a main process with two kinds of children: worker
processes, which run tasks, and fork processes. Each worker process writes its
metrics, Dramatiq's (its `Prometheus` middleware: messages by queue and actor,
in progress, durations) and ours (`actors.metrics`), to files in one directory
per Dramatiq instance (prometheus_client's multiprocess mode); one fork process
serves them all, added up, at `http://HOST:PORT/metrics`.

From the environment, read alike by the worker processes and by the fork process
(which Dramatiq starts from its main process: it never imports `project.worker`):

  ATELIER_WORKER_METRICS_PORT  9191; `0` serves nothing. Two workers on one host
                               need a port each.
  ATELIER_WORKER_METRICS_HOST  127.0.0.1, like the web; 0.0.0.0 in a container.
  ATELIER_WORKER_METRICS_DIR   where the files go; by default a directory of this
                               Dramatiq instance's own under the temporary directory,
                               so workers on one host never mix their figures.

prometheus_client chooses where a metric keeps its values when it is imported:
each worker process points it at the directory when it boots, before its first
metric is made (`actors.metrics` makes them on first use).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dramatiq import Broker, Middleware

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9191
SHARED_ROOT = Path(tempfile.gettempdir()) / "atelier-worker-metrics"


@dataclass(frozen=True, slots=True)
class WorkerExposition:
    host: str
    port: int  # 0: metrics are not served
    directory: Path
    # The directory is one of SHARED_ROOT's, named after its Dramatiq instance.
    per_instance: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerExposition:
        text = env.get("ATELIER_WORKER_METRICS_PORT", "").strip() or str(DEFAULT_PORT)
        try:
            port = int(text)
        except ValueError:
            raise SystemExit(f"ATELIER_WORKER_METRICS_PORT must be a port, not {text!r}") from None
        host = env.get("ATELIER_WORKER_METRICS_HOST", "").strip() or "127.0.0.1"
        if chosen := env.get("ATELIER_WORKER_METRICS_DIR", "").strip():
            return cls(host, port, Path(chosen), per_instance=False)
        # Both the worker processes and the fork process are children of the instance's
        # main process: its pid names their common directory.
        return cls(host, port, SHARED_ROOT / str(os.getppid()))

    @property
    def enabled(self) -> bool:
        return self.port != 0

    def prepare(self) -> None:
        """In a worker process, before its first metric is made: metrics go to files in
        `directory`. Files (and instance directories) of processes that have died are
        removed first, so a restarted worker starts from zero."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.per_instance:
            for instance in SHARED_ROOT.iterdir():
                if instance.name.isdigit() and not _alive(int(instance.name)):
                    shutil.rmtree(instance, ignore_errors=True)
        for path in self.directory.glob("*.db"):
            pid = path.stem.rpartition("_")[2]
            # A file named after this very process is a dead one's whose pid came back.
            if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                path.unlink(missing_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self.directory)
        if "prometheus_client.values" in sys.modules:
            # Imported already (by a library): have metrics made from now on use the files.
            from prometheus_client import values

            values.ValueClass = values.get_value_class()

    def middleware(self) -> Middleware:
        """Dramatiq's `Prometheus` middleware, which makes this process's metrics go to
        `directory` when it boots, with its metrics served (and ours) by `serve`."""
        # Dramatiq's module reads its directory from the environment when imported.
        os.environ["dramatiq_prom_db"] = str(self.directory)  # noqa: SIM112 (its name)
        from dramatiq.middleware import prometheus

        if str(self.directory) != prometheus.DB_PATH:
            raise RuntimeError("dramatiq.middleware.prometheus was imported too early")
        exposition = self

        class WorkerMetrics(prometheus.Prometheus):
            @property
            def forks(self) -> list[Callable[[], int]]:
                return [serve]

            def after_process_boot(self, broker: Broker) -> None:
                exposition.prepare()
                super().after_process_boot(broker)

        return WorkerMetrics()


def serve() -> int:
    """Dramatiq fork function: serve the instance's metrics until stopped.

    A port already taken (another worker on this host) is logged, and the worker
    goes on without serving metrics.
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from project.logformat import configure_worker, log_format

    configure_worker(log_format(os.environ))
    exposition = WorkerExposition.from_env(os.environ)
    exposition.directory.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(exposition.directory))
    address = f"{exposition.host}:{exposition.port}"
    try:
        _, thread = start_http_server(exposition.port, exposition.host, registry)
    except OSError as error:
        logger.error(
            "worker metrics not served: cannot listen on %s (%s); give each worker on a "
            "host its own ATELIER_WORKER_METRICS_PORT",
            address,
            error,
        )
        return 1
    logger.info("worker metrics at http://%s/metrics", address)
    thread.join()
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True
