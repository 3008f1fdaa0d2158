"""The Redis task store: every state change of a task, each one atomic step in Redis
(actors/store/lua), on the keys `actors.store.keys` names.

Dispatch. Each QUEUED task has a queue message, but a message does not pin which
task runs: the worker that takes one starts the best task of the queue at that
moment (`actors.store.dispatch`: priority, then fair share between owners, then age). There
are always at least as many messages as waiting tasks, so every task gets a
worker; a message left when its queue is empty (its task was cancelled, or run
by another message) starts nothing. START runs a task only when it is QUEUED, so
a task never runs twice at once.

Leases. A worker holds a lease on its RUNNING task and renews it; a lapsed lease
means the worker died, and the sweeper requeues the task at its old place (or ends
it WORKER_LOST after `max_attempts` lost runs). Writes are fenced by the attempt
number, so a worker that lost its lease cannot overwrite the outcome of the run
that replaced it. A task is written `undispatched` together with the state that
needs a message (created, requeued) and cleared once the message is sent: a
process dying in between leaves it for `actors.worker.sweeper` to send.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis

from actors.records import ResultInfo, TaskRecord, TaskStatus, now, to_hash
from actors.store import scripts
from actors.store.endings import CANCELLED, cancelled_args, terminate_args, worker_lost_args
from actors.store.gate import NO_TERMS, Gate, Refused
from actors.store.outage import Script, full_named
from actors.store.reads import TaskReader, decode_record

Inputs = Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class Step:
    """What a progress report writes: the run's progress (0..1), stage, step, and a
    preview as (width, height, PNG bytes)."""

    progress: float
    stage: str
    step: int | None = None
    total_steps: int | None = None
    preview: tuple[int, int, bytes] | None = None


class TaskStore(TaskReader):
    """The task records in Redis, and every change to them.

    Each write is one Lua script: it applies whole or not at all, bumps the record's
    sequence number with the change it numbers, and returns the record after it, or
    None when it did not apply (the task is gone, ended, or no longer held by the
    run that writes). A RUNNING task's writes are fenced by its attempt number.
    Results, previews and inputs expire with the record once it ends (`ttl`).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "atelier:",
        ttl: int = 3600,
        lease_seconds: float = 30.0,
        dispatch_grace: float = 30.0,
    ) -> None:
        super().__init__(client, prefix=prefix)
        self.ttl = ttl
        self.lease_ms = int(lease_seconds * 1000)
        self.dispatch_ms = int(dispatch_grace * 1000)
        # A full Redis's refusal of any of them raises OutOfMemoryError (an outage).
        self._create = Script(client, scripts.CREATE)
        self._start = Script(client, scripts.START)
        self._progress = Script(client, scripts.PROGRESS)
        self._finish = Script(client, scripts.FINISH)
        self._cancel = Script(client, scripts.CANCEL)
        self._deadline = Script(client, scripts.DEADLINE)
        self._renew = Script(client, scripts.RENEW)
        self._reap = Script(client, scripts.REAP)
        self._requeue = Script(client, scripts.REQUEUE)

    # -- writes --------------------------------------------------------------
    def create(
        self,
        record: TaskRecord,
        inputs: Inputs,
        *,
        idempotency_key: str | None = None,
        gate: Gate | None = None,
    ) -> tuple[TaskRecord, bool]:
        """Store a new QUEUED task and its inputs. Returns (task, created).

        With an idempotency key this owner used for a task that still exists,
        nothing is written and that task is returned with created=False. With a
        `gate`, the task is recorded only if admission admits it, in the same step
        (else `Refused`, nothing written); a known idempotency key is never refused.
        """
        idem = self.idempotency_key(record.owner, idempotency_key) if idempotency_key else None
        params = {**record.params, "_inputs": sorted(inputs)}
        record = record.evolve(params=params, idempotency_ref=idem, stage=record.stage or "queued")
        flat = [item for pair in to_hash(record).items() for item in pair]
        keys = self.task_keys(record)
        if gate is not None:
            keys += [gate.bucket, *gate.queues]
        created, *answer = self._create(
            keys=keys,
            args=[
                record.id,
                # Microseconds: tasks created in the same millisecond still sort.
                int(record.created_at.timestamp() * 1_000_000),
                "1" if idem else "0",
                self.key(""),
                self.dispatch_ms,
                "" if record.deadline_seconds is None else record.deadline_seconds,
                len(inputs),
                "0" if gate is None else "1",
                *(NO_TERMS if gate is None else gate.terms),
                len(flat) // 2,
                *flat,
                *(inputs[name] for name in sorted(inputs)),
            ],
        )
        if created == 1:
            # The deadline is set on Redis's clock, as the task was created.
            _, deadline, score = answer
            deadline_ms = int(deadline) if deadline else None
            return record.evolve(deadline_ms=deadline_ms, queue_score=score.decode()), True
        if created < 0:
            reason, retry_ms = answer
            raise Refused(reason.decode(), int(retry_ms) / 1000)
        existing = self.get(answer[0].decode())
        # Expired in the instant between the script and this read: report it as it was.
        return (existing or record), False

    def start(
        self,
        task_id: str,
        *,
        max_attempts: int = 2,
        worker: str = "",
        run: str | None = None,
        known: TaskRecord | None = None,
    ) -> TaskRecord | None:
        """Claim a task for `worker`: the record, RUNNING under a new attempt and a lease.

        `run` names this claim, so that retrying it after a lost reply returns the
        task it already claimed rather than finding it held by "someone else".

        QUEUED -> RUNNING. RUNNING under a lapsed lease (its worker died and the
        message came back): taken over while attempts remain, else ended (FAILED
        WORKER_LOST, or CANCELLED if asked); that terminal record is returned to
        be published. None when the task is gone, ended, or held by a live worker.

        `known`: the task as the caller has just read it (a worker, the task it
        picked), which saves reading it again: a task's keys are made of what never
        changes once it is created (id, owner, queue, idempotency key, input names).
        """
        record = known or self.get(task_id)
        if record is None:
            return None
        raw = self._start(
            keys=self.task_keys(record),
            args=[
                task_id,
                now().isoformat(),
                max_attempts,
                self.lease_ms,
                worker,
                run or uuid.uuid4().hex,
                *worker_lost_args(self.ttl, max_attempts),
            ],
        )
        return decode_record(raw)

    def renew(self, record: TaskRecord) -> bool:
        """Extend the lease of `record`'s run; False once that run no longer holds the task."""
        held = self._renew(
            keys=[self.key(record.id), self.leases_key],
            args=[record.id, record.attempts, self.lease_ms],
        )
        return bool(held)

    def reap(self, task_id: str, *, max_attempts: int = 2) -> TaskRecord | None:
        """Requeue a RUNNING task whose lease lapsed, or end it WORKER_LOST (CANCELLED
        if asked) after `max_attempts` lost runs. None when its lease is alive after all."""
        record = self.get(task_id)
        if record is None:
            self.client.zrem(self.leases_key, task_id)
            return None
        raw = self._reap(
            keys=self.task_keys(record),
            args=[
                task_id,
                max_attempts,
                self.dispatch_ms,
                *worker_lost_args(self.ttl, max_attempts),
            ],
        )
        return decode_record(raw)

    def requeue(self, record: TaskRecord) -> TaskRecord | None:
        """Hand `record`'s run back (worker shutting down): QUEUED again, not counted as
        lost; CANCELLED instead when a cancel was asked for."""
        raw = self._requeue(
            keys=self.task_keys(record),
            args=[record.id, record.attempts, self.dispatch_ms, *cancelled_args(self.ttl)],
        )
        return decode_record(raw)

    def dispatched(self, task_id: str) -> None:
        """The task's queue message is sent: the sweeper need not send it."""
        self.client.zrem(self.undispatched_key, task_id)

    def report(
        self,
        record: TaskRecord,
        *,
        progress: float,
        stage: str,
        step: int | None = None,
        total_steps: int | None = None,
        preview: tuple[int, int, bytes] | None = None,
    ) -> TaskRecord | None:
        """Record progress of the attempt `record` belongs to.

        None once the task is no longer RUNNING under that attempt. After a cancel
        request nothing is written and the flagged record comes back.
        """
        return self.report_step(record, Step(progress, stage, step, total_steps, preview))

    def report_step(self, record: TaskRecord, step: Step) -> TaskRecord | None:
        """`report` of `step`."""
        return decode_record(self._progress(*self._progress_call(record, step)))

    def report_many(self, steps: Sequence[tuple[TaskRecord, Step]]) -> list[TaskRecord | None]:
        """`report` for each of several tasks (a batch's members at one step), in one
        round trip; each is written on its own, as by `report`."""
        with self.client.pipeline(transaction=False) as pipe:
            for record, step in steps:
                self._progress(*self._progress_call(record, step), client=pipe)
            with full_named():
                raws = pipe.execute()
        return [decode_record(raw) for raw in raws]

    def _progress_call(self, record: TaskRecord, step: Step) -> tuple[list[str], list[Any]]:
        width, height, png = step.preview or ("", "", b"")
        keys = [self.key(record.id), self.key(record.id, "preview")]
        args = [
            record.attempts,
            repr(float(step.progress)),
            step.stage,
            "" if step.step is None else step.step,
            "" if step.total_steps is None else step.total_steps,
            width,
            height,
            png,
        ]
        return keys, args

    def succeed(
        self, record: TaskRecord, result: ResultInfo, png: bytes, extra_pngs: Sequence[bytes] = ()
    ) -> TaskRecord | None:
        """End the task SUCCEEDED with its images, `png` first then `extra_pngs` in order
        (the record's `image_count` counts them), all in one step."""
        result = replace(result, image_count=1 + len(extra_pngs))
        return self._terminate(
            record,
            TaskStatus.SUCCEEDED,
            "done",
            result=result,
            pngs=(png, *extra_pngs),
            expected=TaskStatus.RUNNING,
        )

    def fail(self, record: TaskRecord, code: str, message: str) -> TaskRecord | None:
        """End the task FAILED, if it is still as `record` knows it (status and attempt):
        a worker fails its own run, the web a task it could not queue."""
        return self._terminate(
            record, TaskStatus.FAILED, "failed", error=(code, message), expected=record.status
        )

    def cancelled(self, record: TaskRecord) -> TaskRecord | None:
        """A RUNNING task stopped by its worker after a cancel request."""
        return self._terminate(
            record, TaskStatus.CANCELLED, "cancelled", error=CANCELLED, expected=TaskStatus.RUNNING
        )

    def cancel(self, task_id: str, *, known: TaskRecord | None = None) -> TaskRecord | None:
        """QUEUED -> CANCELLED at once; RUNNING -> cancel requested; terminal: unchanged.

        `known`: the task as the caller has just read it, which saves reading it again
        (see `start`)."""
        record = known or self.get(task_id)
        if record is None:
            return None
        raw = self._cancel(keys=self.task_keys(record), args=cancelled_args(self.ttl))
        return decode_record(raw)

    def enforce_deadline(self, task_id: str) -> TaskRecord | None:
        """A task whose deadline passed: QUEUED -> CANCELLED (DEADLINE_EXCEEDED) at once;
        RUNNING -> stopped at its next step; None when nothing changed."""
        record = self.get(task_id)
        if record is None:
            self.client.zrem(self.deadlines_key, task_id)
            return None
        raw = self._deadline(keys=self.task_keys(record), args=[task_id, *cancelled_args(self.ttl)])
        return decode_record(raw)

    def _terminate(
        self,
        record: TaskRecord,
        status: TaskStatus,
        stage: str,
        *,
        expected: TaskStatus,
        error: tuple[str, str] | None = None,
        result: ResultInfo | None = None,
        pngs: Sequence[bytes] = (b"",),
    ) -> TaskRecord | None:
        """End the task, if it is still `expected` under `record`'s attempt."""
        raw = self._finish(
            keys=self.task_keys(record),
            args=[
                record.attempts,
                expected.value,
                *terminate_args(self.ttl, status, stage, error, result),
                *pngs,
            ],
        )
        return decode_record(raw)
