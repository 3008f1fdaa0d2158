"""Running one task in a worker: start it, run its pipeline, write exactly one outcome."""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from dramatiq.middleware import TimeLimitExceeded

from actors import metrics
from actors.config import JobSettings
from actors.kinds import LoadContext, spec_for
from actors.logcontext import task_context
from actors.records import ResultInfo, TaskKind, TaskRecord, TaskStatus
from actors.store.dispatch import Dispatcher
from actors.store.outage import when_redis_answers
from actors.store.runtimes import RunTimes
from actors.store.tasks import TaskStore
from actors.worker.cancellation import Interrupted, Superseded
from actors.worker.lease import LeaseKeeper
from actors.worker.pipelinecache import PipelineCache
from actors.worker.reporter import Publish, TaskReporter
from actors.worker.retrying import retried, written
from pipelines.errors import Cancelled, PipelineError
from pipelines.models import ModelStore, choose_device
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.progress import Progress

logger = logging.getLogger(__name__)

Send = Callable[[TaskRecord], None]
T = TypeVar("T")


class TaskRunner:
    """Runs tasks by id. One per worker process; pipelines stay loaded between tasks.

    `send` queues a task's message again (used when a shutting-down worker hands
    its task back).
    """

    def __init__(
        self,
        settings: JobSettings,
        store: TaskStore,
        publish: Publish,
        send: Send,
        *,
        worker: str | None = None,
        restart_time_limit: Callable[[float], None] = lambda seconds: None,
        on_start: Callable[[TaskRecord], None] = lambda record: None,
        runtimes: RunTimes | None = None,
    ) -> None:
        self.runtimes = runtimes
        self.settings = settings
        self.restart_time_limit = restart_time_limit
        self.on_start = on_start  # the worker's presence: which task it runs now
        self.store = store
        self.dispatcher = Dispatcher(store)
        self.publish = publish
        self.send = send
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.cache = PipelineCache(settings.pipeline_cache_size)
        self.models = ModelStore(root=settings.model_dir, offline=settings.offline)
        self._device: str | None = settings.device
        self._drain_deadline: float | None = None

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = choose_device()
        return self._device

    def drain(self, grace: float) -> None:
        """The worker is stopping: a task still running `grace` seconds from now is
        handed back to the queue at its next step."""
        self._drain_deadline = time.monotonic() + grace

    def run(self, hint: str, queue: str | None = None) -> None:
        """Start and run the best task waiting in `queue`, if any (a message names the
        task whose submission sent it, `hint`, and its queue, but does not pin which
        task runs: see `actors.store.dispatch`). What is logged meanwhile, here and in
        the threads this run starts, carries the running task's id."""
        record = self._claim(hint, queue)
        if record is not None:
            with task_context(record.id):
                self._run(record)

    def _claim(self, hint: str, queue: str | None) -> TaskRecord | None:
        if queue is None:  # a message sent before messages named their queue
            sent_for = self.store.get(hint)
            if sent_for is None:
                return None
            queue = sent_for.queue
        claim = uuid.uuid4().hex
        claimed = self._retrying(
            lambda: self.dispatcher.start_next(
                queue, max_attempts=self.settings.max_attempts, worker=self.worker, run=claim
            ),
            f"start a task of queue {queue}",
        )
        for ended in claimed.ended:  # past its deadline: never started
            logger.info("task %s ended %s before it started", ended.id, ended.error_code)
            self._publish(ended)
        if claimed.record is None:
            logger.debug("nothing waits in queue %s (message of task %s)", queue, hint)
        return claimed.record

    def _run(self, record: TaskRecord) -> None:
        task_id = record.id
        self.restart_time_limit(self.settings.time_limits[record.kind])
        self.on_start(record)
        self._publish(record)
        if record.attempts > 1:
            logger.warning("task %s restarted (attempt %d)", task_id, record.attempts)
        metrics.task_started(record)
        # Else its time includes loading the model: no measure of a run.
        warm = _weights(record.kind, record.params.get("model"), self.settings) in self.cache
        started = time.monotonic()
        with LeaseKeeper(self.store, record, every=self.settings.lease_seconds / 3) as lease:
            reporter = TaskReporter(
                self.store, self.publish, record, lambda: self._stop_reason(lease)
            )
            outcome = self._outcome(record, reporter)
            if outcome is None:
                metrics.run_ended(record.kind, metrics.LOST, time.monotonic() - started)
                logger.warning("task %s: this run lost its lease; writing nothing", task_id)
                return
            final = self._write(outcome, f"write the outcome of task {task_id}", task_id)
        ended, seconds = _run_outcome(final), time.monotonic() - started
        metrics.run_ended(record.kind, ended, seconds)
        if warm and final is not None and final.status is TaskStatus.SUCCEEDED:
            self._measured(final, seconds)
        logger.info("task %s (%s): %s after %.2f s", task_id, record.kind.value, ended, seconds)
        if final is None:
            return
        self._publish(final)
        if final.status is TaskStatus.QUEUED:  # handed back on shutdown
            logger.info("task %s handed back to the queue", task_id)
            self._dispatch(final)

    def _outcome(
        self, record: TaskRecord, reporter: TaskReporter
    ) -> Callable[[], TaskRecord | None] | None:
        """Runs the pipeline; returns the write that records how it ended (None: none)."""
        task_id = record.id
        try:
            output = self._execute(record, reporter)
        except Superseded:
            return None
        except Interrupted:
            return lambda: self.store.requeue(reporter.record)
        except Cancelled:
            return lambda: self.store.cancelled(reporter.record)
        except PipelineError as error:
            if error.public_message != error.message:
                logger.warning("task %s failed %s: %s", task_id, error.code, error.message)
            code, public = error.code, error.public_message  # `error` is unbound after except
            return lambda: self.store.fail(reporter.record, code, public)
        except TimeLimitExceeded:  # raised into this thread by Dramatiq's TimeLimit
            limit = self.settings.time_limits[record.kind]
            message = f"the task ran past its time limit of {limit} s"
            return lambda: self.store.fail(reporter.record, "TIMEOUT", message)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("task %s failed (incident %s)", task_id, incident)
            message = f"the pipeline failed unexpectedly (incident {incident})"
            return lambda: self.store.fail(reporter.record, "PIPELINE_ERROR", message)
        info = ResultInfo(
            width=output.width,
            height=output.height,
            seed=output.seed,
            prompt_used=output.prompt_used,
            negative_prompt_used=output.negative_prompt_used,
            metadata={**output.metadata, "attempts": reporter.record.attempts},
            image_count=1 + len(output.extra_pngs),
            seeds=_seeds(output),
        )
        extra = output.extra_pngs
        return lambda: self.store.succeed(reporter.record, info, output.png, extra)

    def _stop_reason(self, lease: LeaseKeeper) -> Cancelled | None:
        if lease.lost.is_set():
            return Superseded()
        if self._drain_deadline is not None and time.monotonic() >= self._drain_deadline:
            return Interrupted()
        return None

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        return retried(call, what, self.settings.redis_patience)

    def _write(
        self, write: Callable[[], TaskRecord | None], what: str, task_id: str | None = None
    ) -> TaskRecord | None:
        return written(write, what, self.settings.redis_patience, self.store, task_id)

    def _measured(self, final: TaskRecord, seconds: float) -> None:
        """Adds the run to the run times estimates are made from (actors.client.eta)."""
        if self.runtimes is None:
            return
        try:
            steps = final.total_steps or 0
            _, model = _weights(final.kind, final.params.get("model"), self.settings)
            self.runtimes.record(final.kind, model, steps, seconds)
        except Exception as error:  # an estimate's input, never a task's outcome
            logger.warning("run time of task %s not recorded: %s", final.id, error)

    def _publish(self, record: TaskRecord) -> None:
        try:
            self.publish(record)
        except Exception as error:  # subscribers resynchronise from the record
            logger.warning("event of task %s not published: %s", record.id, error)

    def _dispatch(self, record: TaskRecord) -> None:
        try:
            self.send(record)
            self.store.dispatched(record.id)
        except Exception as error:  # still marked undispatched: the sweeper sends it
            logger.warning("task %s requeued but not sent: %s", record.id, error)

    def preload(self, kind: TaskKind) -> None:
        """Load the default pipeline of `kind` into the cache."""
        self._pipeline(kind, None)

    def _execute(self, record: TaskRecord, reporter: TaskReporter) -> Output:
        spec = spec_for(record.kind)
        params = dict(record.params)
        input_names = params.pop("_inputs", [])
        model = params.pop("model", None)
        for name in input_names:
            data = when_redis_answers(
                functools.partial(self.store.input_bytes, record.id, name),
                what=f"read the input {name!r} of task {record.id}",
                give_up_after=self.settings.redis_patience,
            )
            if data is None:
                raise PipelineError(f"the task's input {name!r} is missing", field=name)
            params[name] = data
        pipeline = self._pipeline(record.kind, model, reporter)
        return pipeline.run(spec.make_params(params), reporter)

    def _pipeline(
        self, kind: TaskKind, model: str | None, reporter: TaskReporter | None = None
    ) -> Pipeline[Any]:
        """The pipeline for `kind` and `model` (its default when None), over warm weights.

        The weights are cached under the kind that loads them and the resolved model
        name, so naming the default model explicitly reuses what is loaded for it, and
        kinds sharing weights (image-to-image on text-to-image's) share the entry.
        """
        spec = spec_for(kind)
        key = _weights(kind, model, self.settings)
        name = key[1]
        if reporter is not None and key not in self.cache:
            reporter(Progress("loading model"))
        context = LoadContext(self.settings, self.models, self.device)
        loaded = self.cache.get(key, lambda: spec.load(context, name))
        pipeline: Pipeline[Any] = spec.bind(loaded)
        return pipeline


def _weights(kind: TaskKind, model: object, settings: JobSettings) -> tuple[TaskKind, str]:
    """The pipeline cache's key for `kind` on `model` (None: its default)."""
    spec = spec_for(kind)
    return (spec.weights_kind, str(model) if model else spec.default_model(settings))


def _seeds(output: Output) -> list[int] | None:
    """One seed per image; a pipeline that names only `seed` made one image from it."""
    if output.seeds:
        return list(output.seeds)
    return None if output.seed is None else [output.seed]


def _run_outcome(final: TaskRecord | None) -> str:
    """How a run ended, for `metrics.TASK_RUN`."""
    if final is None:
        return metrics.LOST  # the outcome was not ours to write: another run holds the task
    if final.status is TaskStatus.QUEUED:
        return metrics.REQUEUED
    return final.status.value
