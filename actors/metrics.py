"""What the job system measures as it runs tasks, as Prometheus metrics.

Made on first use, not on import: a worker process first points prometheus_client
at its metrics directory (see `project.workermetrics`), so that its processes'
figures add up at the one endpoint that serves them. They belong to no registry:
whoever serves them registers them (the web serves `REDIS_ERRORS` at /metrics,
see `project.metrics`). Observing one costs no Redis command.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import redis

from actors.records import TaskKind, TaskRecord

# Waits run from milliseconds (an idle worker) to an hour (a long queue).
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# `atelier_task_run_seconds` outcomes beyond the terminal statuses.
REQUEUED = "REQUEUED"  # handed back to the queue: the worker is stopping
LOST = "LOST"  # the run lost its task to another run: it wrote no outcome


class Instruments:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.task_wait = Histogram(
            "atelier_task_wait_seconds",
            "From a task's creation to the start of its first run.",
            ["kind"],
            buckets=WAIT_BUCKETS,
            registry=None,
        )
        self.task_run = Histogram(
            "atelier_task_run_seconds",
            "One run of a task in a worker, from its start to its outcome written.",
            ["kind", "outcome"],
            buckets=RUN_BUCKETS,
            registry=None,
        )
        self.task_step = Histogram(
            "atelier_task_step_seconds",
            "Pipeline time of one step of a step-wise stage (a denoising step, a face "
            "swapped): from one progress report returning to the next arriving.",
            ["kind"],
            buckets=STEP_BUCKETS,
            registry=None,
        )
        self.batch_tasks = Histogram(
            "atelier_worker_batch_tasks",
            "Tasks run in one pipeline call: 1 alone, more in a batch (ATELIER_MAX_BATCH).",
            ["kind"],
            buckets=BATCH_BUCKETS,
            registry=None,
        )
        self.redis_errors = Counter(
            "atelier_redis_errors_total",
            "Redis calls of the job system that failed for an outage (connection or timeout).",
            ["error"],
            registry=None,
        )
        self.webhook_deliveries = Counter(
            "atelier_webhook_deliveries_total",
            "Webhook delivery attempts by event and outcome: delivered, retrying (failed, "
            "tried again later), exhausted (failed, no retries left), refused (the URL is "
            "no longer admitted), dropped (the task expired before a first attempt).",
            ["event", "outcome"],
            registry=None,
        )


@functools.cache
def instruments() -> Instruments:
    return Instruments()


def redis_errors() -> Any:
    """The counter of `redis_error`, for a registry."""
    return instruments().redis_errors


def redis_error(error: BaseException) -> None:
    timeout = isinstance(error, redis.exceptions.TimeoutError | TimeoutError)
    instruments().redis_errors.labels("timeout" if timeout else "connection").inc()


def task_started(record: TaskRecord) -> None:
    """A run started. Only first runs are a wait: a requeued task's second wait began
    at a moment the record does not keep. The web's clock to the worker's."""
    if record.attempts == 1 and record.started_at is not None:
        waited = (record.started_at - record.created_at).total_seconds()
        instruments().task_wait.labels(record.kind.value).observe(max(0.0, waited))


def call_started(kind: TaskKind, tasks: int) -> None:
    """A pipeline call started for `tasks` tasks (a batch when more than one)."""
    instruments().batch_tasks.labels(kind.value).observe(tasks)


def run_ended(kind: TaskKind, outcome: str, seconds: float) -> None:
    """A run ended: `outcome` is the task's terminal status, `REQUEUED` or `LOST`."""
    instruments().task_run.labels(kind.value, outcome).observe(seconds)


def webhook_attempted(event: str, outcome: str) -> None:
    instruments().webhook_deliveries.labels(event, outcome).inc()


class StepClock:
    """Times the steps of one run from its progress reports: step n+1 of a stage took
    the time from step n's report returning to step n+1's arriving."""

    def __init__(self, kind: TaskKind) -> None:
        self._kind = kind.value
        self._steps: Any = None  # the kind's histogram, once a step is timed
        self._stage: str | None = None
        self._step: int | None = None
        self._returned: float | None = None

    def arrived(self, stage: str, step: int | None) -> None:
        """A report arrives (before anything is written for it)."""
        returned, previous = self._returned, self._step
        in_stage = stage == self._stage
        if returned is not None and previous is not None and in_stage and step == previous + 1:
            took = time.monotonic() - returned
            if self._steps is None:
                self._steps = instruments().task_step.labels(self._kind)
            self._steps.observe(took)
        self._stage, self._step, self._returned = stage, step, None

    def returned(self) -> None:
        """The report is done: the pipeline works on."""
        self._returned = time.monotonic()
