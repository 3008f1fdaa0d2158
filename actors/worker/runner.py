"""Running one task in a worker: start it, run its pipeline, write exactly one outcome."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

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
from actors.worker.announcer import Announcer
from actors.worker.batching import Batcher
from actors.worker.cancellation import Interrupted, Superseded
from actors.worker.finisher import Finisher
from actors.worker.lease import LeaseKeeper
from actors.worker.pipelinecache import PipelineCache
from actors.worker.reporter import BatchReporter, Publish, TaskReporter
from actors.worker.retrying import retried, written
from pipelines.errors import Cancelled, PipelineError
from pipelines.models import ModelStore, choose_device
from pipelines.output import Output
from pipelines.pipeline import BatchPipeline, Pipeline
from pipelines.progress import Progress, ProgressCallback

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
        on_start: Callable[[list[TaskRecord]], None] = lambda records: None,
        runtimes: RunTimes | None = None,
    ) -> None:
        self.runtimes = runtimes
        self.settings = settings
        self.restart_time_limit = restart_time_limit
        self.on_start = on_start  # the worker's presence: which tasks it runs now
        self.store = store
        self.dispatcher = Dispatcher(store)
        # In order, off the worker's thread (actors.worker.announcer).
        self.publish = Announcer(publish)
        self.send = send
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.cache = PipelineCache(settings.pipeline_cache_size)
        self.models = ModelStore(root=settings.model_dir, offline=settings.offline)
        self._device: str | None = settings.device
        self._drain_deadline: float | None = None
        self.batcher = Batcher(settings, self.dispatcher)
        self.finisher = Finisher()

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
        task runs: see `actors.store.dispatch`), with the waiting tasks that can share
        its pipeline call (`actors.worker.batching`). What is logged meanwhile, here
        and in the threads this run starts, carries the first task's id."""
        claim = uuid.uuid4().hex
        record = self._claim(hint, queue, claim)
        if record is None:
            return
        with task_context(record.id):
            join = functools.partial(self._start_companion, claim)
            companions, ended = self.batcher.companions(record, join)
            for past in ended:
                self.publish(past)
            self._run([record, *companions])

    def _claim(self, hint: str, queue: str | None, claim: str) -> TaskRecord | None:
        if queue is None:  # a message sent before messages named their queue
            sent_for = self.store.get(hint)
            if sent_for is None:
                return None
            queue = sent_for.queue
        claimed = self._retrying(
            lambda: self.dispatcher.start_next(
                queue, max_attempts=self.settings.max_attempts, worker=self.worker, run=claim
            ),
            f"start a task of queue {queue}",
        )
        for ended in claimed.ended:  # past its deadline: never started
            logger.info("task %s ended %s before it started", ended.id, ended.error_code)
            self.publish(ended)
        if claimed.record is None:
            logger.debug("nothing waits in queue %s (message of task %s)", queue, hint)
        return claimed.record

    def _start_companion(self, claim: str, waiting: TaskRecord) -> TaskRecord | None:
        """Start a waiting task to join `claim`'s batch; a retry after a lost reply
        runs under the same name and returns the task it started."""
        run = f"{claim}:{waiting.id}"
        return self._retrying(
            lambda: self.store.start(
                waiting.id,
                max_attempts=self.settings.max_attempts,
                worker=self.worker,
                run=run,
                known=waiting,
            ),
            f"start task {waiting.id} in a batch",
        )

    def _run(self, records: list[TaskRecord]) -> None:
        """Run `records` (one task, or a batch sharing one pipeline call): each with its
        own lease, progress and outcome, written exactly once."""
        first = records[0]
        self.restart_time_limit(self.settings.time_limits[first.kind])
        self.on_start(records)
        for record in records:
            self.publish(record)
            if record.attempts > 1:
                logger.warning("task %s restarted (attempt %d)", record.id, record.attempts)
            metrics.task_started(record)
        metrics.call_started(first.kind, len(records))
        # Else its time includes loading the model: no measure of a run.
        warm = self._weights_of(first) in self.cache
        started = time.monotonic()
        # Renewed until the outcomes are written, by the finisher; let go here only if
        # the run never reaches it (its tasks' leases lapse, and they are requeued).
        leases = contextlib.ExitStack()
        try:
            reporters = [
                self._reporter(record, leases.enter_context(self._lease(record)))
                for record in records
            ]
            outcomes = self._outcomes(records, reporters)
            finish = functools.partial(self._finish, records, outcomes, leases, started, warm)
            self._hand_over(_once(finish))
        except BaseException:
            leases.close()
            raise

    def _hand_over(self, finish: Callable[[], None]) -> None:
        """Give a finished run to the finisher, however long it waits for room: a time
        limit falling meanwhile (or as it returns: `finish` runs once) changes nothing."""
        while True:
            try:
                self.finisher.hand_over(finish)
                return
            except TimeLimitExceeded:
                logger.warning("the time limit passed while handing over a finished run")

    def _finish(
        self,
        records: list[TaskRecord],
        outcomes: list[Callable[[], TaskRecord | None] | None],
        leases: contextlib.ExitStack,
        started: float,
        warm: bool,
    ) -> None:
        """On the finisher's thread: write each task's outcome (encoding its PNGs) under
        its lease, then let the leases go, count, publish and measure the run."""
        with leases:
            finals = [
                self._write(outcome, f"write the outcome of task {record.id}", record.id)
                if outcome is not None
                else _LOST
                for record, outcome in zip(records, outcomes, strict=True)
            ]
        seconds = time.monotonic() - started
        for record, final in zip(records, finals, strict=True):
            self._ended(record, final, seconds)
        done = [final for final in finals if isinstance(final, TaskRecord)]
        succeeded = [final for final in done if final.status is TaskStatus.SUCCEEDED]
        if warm and succeeded:
            self._measured(succeeded[0], seconds / len(records))  # what each task cost

    def flush(self) -> None:
        """Wait until every finished run's outcomes are written and every change
        published (see actors.worker.finisher and actors.worker.announcer)."""
        self.finisher.flush()
        self.publish.settle()

    def _lease(self, record: TaskRecord) -> LeaseKeeper:
        return LeaseKeeper(self.store, record, every=self.settings.lease_seconds / 3)

    def _reporter(self, record: TaskRecord, lease: LeaseKeeper) -> TaskReporter:
        return TaskReporter(self.store, self.publish, record, lambda: self._stop_reason(lease))

    def _ended(self, record: TaskRecord, final: TaskRecord | object | None, seconds: float) -> None:
        """Count, log and publish how `record`'s run ended (`_LOST`: its lease was lost,
        nothing was written; None: the write found the task ended or taken over)."""
        if final is _LOST:
            metrics.run_ended(record.kind, metrics.LOST, seconds)
            logger.warning("task %s: this run lost its lease; writing nothing", record.id)
            return
        assert final is None or isinstance(final, TaskRecord)
        ended = _run_outcome(final)
        metrics.run_ended(record.kind, ended, seconds)
        logger.info("task %s (%s): %s after %.2f s", record.id, record.kind.value, ended, seconds)
        if final is None:
            return
        self.publish(final)
        if final.status is TaskStatus.QUEUED:  # handed back on shutdown
            logger.info("task %s handed back to the queue", record.id)
            self._dispatch(final)

    def _outcomes(
        self, records: list[TaskRecord], reporters: list[TaskReporter]
    ) -> list[Callable[[], TaskRecord | None] | None]:
        """Runs the pipeline; returns, per task, the write that records how it ended
        (None: none, this run no longer holds it)."""
        try:
            results = self._execute(records, reporters)
        except (Exception, TimeLimitExceeded) as error:  # the call as a whole failed
            results = [error for _ in records]
        return [
            self._outcome(record, reporter, result)
            for record, reporter, result in zip(records, reporters, results, strict=True)
        ]

    def _outcome(
        self, record: TaskRecord, reporter: TaskReporter, result: Output | BaseException
    ) -> Callable[[], TaskRecord | None] | None:
        """The write that records how `record`'s run ended with `result`."""
        task_id = record.id
        if isinstance(result, Superseded):
            return None
        if isinstance(result, Interrupted):
            return lambda: self.store.requeue(reporter.record)
        if isinstance(result, Cancelled):
            return lambda: self.store.cancelled(reporter.record)
        if isinstance(result, PipelineError):
            if result.public_message != result.message:
                logger.warning("task %s failed %s: %s", task_id, result.code, result.message)
            code, public = result.code, result.public_message
            return lambda: self.store.fail(reporter.record, code, public)
        if isinstance(result, TimeLimitExceeded):  # raised into this thread by Dramatiq
            limit = self.settings.time_limits[record.kind]
            message = f"the task ran past its time limit of {limit} s"
            return lambda: self.store.fail(reporter.record, "TIMEOUT", message)
        if isinstance(result, BaseException):
            incident = uuid.uuid4().hex[:12]
            logger.error("task %s failed (incident %s)", task_id, incident, exc_info=result)
            message = f"the pipeline failed unexpectedly (incident {incident})"
            return lambda: self.store.fail(reporter.record, "PIPELINE_ERROR", message)
        return functools.partial(self._succeed, reporter, result)

    def _succeed(self, reporter: TaskReporter, output: Output) -> TaskRecord | None:
        pngs = output.pngs  # encoded here, on the finisher's thread, when not yet
        info = ResultInfo(
            width=output.width,
            height=output.height,
            seed=output.seed,
            prompt_used=output.prompt_used,
            negative_prompt_used=output.negative_prompt_used,
            metadata={**output.metadata, "attempts": reporter.record.attempts},
            image_count=len(pngs),
            seeds=_seeds(output),
        )
        return self.store.succeed(reporter.record, info, pngs[0], pngs[1:])

    def _weights_of(self, record: TaskRecord) -> tuple[TaskKind, str]:
        """The pipeline cache's key for what `record` runs on."""
        return spec_for(record.kind).weights_for(self.settings, record.params.get("model"))

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
            _, model = self._weights_of(final)
            self.runtimes.record(final.kind, model, steps, seconds)
        except Exception as error:  # an estimate's input, never a task's outcome
            logger.warning("run time of task %s not recorded: %s", final.id, error)

    def _dispatch(self, record: TaskRecord) -> None:
        try:
            self.send(record)
            self.store.dispatched(record.id)
        except Exception as error:  # still marked undispatched: the sweeper sends it
            logger.warning("task %s requeued but not sent: %s", record.id, error)

    def preload(self, kind: TaskKind) -> None:
        """Load the default pipeline of `kind` into the cache."""
        self._pipeline(kind, None)

    def _execute(
        self, records: list[TaskRecord], reporters: list[TaskReporter]
    ) -> list[Output | BaseException]:
        """Each task's output or what ended it: one task runs its pipeline's `run`, a
        batch its `run_batch` (tasks of one kind and model, see actors.worker.batching)."""
        first = records[0]
        jobs: list[tuple[Any, TaskReporter]] = []
        for record, reporter in zip(records, reporters, strict=True):
            params = dict(record.params)
            params.pop("model", None)
            for name in params.pop("_inputs", []):
                params[name] = self._input(record, name)
            jobs.append((spec_for(record.kind).make_params(params), reporter))
        if len(jobs) == 1:
            pipeline = self._pipeline(first.kind, first.params.get("model"), reporters[0])
            return [pipeline.run(*jobs[0])]
        # A member cancelled while the model loads stops at its first step, alone.
        loading = functools.partial(_tell_each, reporters, Progress("loading model"))
        pipeline = self._pipeline(first.kind, first.params.get("model"), loading)
        # Only a kind with a `batch_key` gets here, and its pipeline is a BatchPipeline.
        batched = cast(BatchPipeline[Any], pipeline)
        # Each step's reports of every member in one round trip, not one per member.
        report = BatchReporter(self.store, reporters)
        return list(batched.run_batch(jobs, exact=self.settings.batch_exact, report=report))

    def _input(self, record: TaskRecord, name: str) -> bytes:
        data = when_redis_answers(
            functools.partial(self.store.input_bytes, record.id, name),
            what=f"read the input {name!r} of task {record.id}",
            give_up_after=self.settings.redis_patience,
        )
        if data is None:
            raise PipelineError(f"the task's input {name!r} is missing", field=name)
        return data

    def _pipeline(
        self, kind: TaskKind, model: str | None, reporter: ProgressCallback | None = None
    ) -> Pipeline[Any]:
        """The pipeline for `kind` and `model` (its default when None), over warm weights.

        The weights are cached under the kind that loads them and the resolved model
        name, so naming the default model explicitly reuses what is loaded for it, and
        kinds sharing weights (image-to-image on text-to-image's) share the entry.
        """
        spec = spec_for(kind)
        key = spec.weights_for(self.settings, model)
        name = key[1]
        if reporter is not None and key not in self.cache:
            reporter(Progress("loading model"))
        context = LoadContext(self.settings, self.models, self.device)
        loaded = self.cache.get(key, lambda: spec.load(context, name))
        pipeline: Pipeline[Any] = spec.bind(loaded)
        return pipeline


def _tell_each(reporters: list[TaskReporter], event: Progress) -> None:
    for reporter in reporters:
        with contextlib.suppress(Cancelled):
            reporter(event)


def _once(job: Callable[[], None]) -> Callable[[], None]:
    """`job`, run the first time the result is called and never again."""
    taken = threading.Lock()

    def run() -> None:
        if taken.acquire(blocking=False):
            job()

    return run


# A run whose lease was lost: no outcome of it is written.
_LOST = object()


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
