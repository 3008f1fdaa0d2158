"""The Redis task store: records, results, previews, inputs, owner index, queue position.

Layout (prefix `atelier:` by default; a task's keys share its TTL once terminal):
  task:<id>               hash: the record (see records.py)
  task:<id>:result        PNG bytes of the result
  task:<id>:preview       PNG bytes of the latest preview
  task:<id>:input:<name>  input bytes (images), deleted when the task ends
  owner:<owner>           sorted set of task ids by creation time (newest last)
  queue:<queue>           sorted set of waiting task ids by ticket: rank = position
  queue:<queue>:tickets   counter handing out tickets
  idem:<owner>:<digest>   the task id an idempotency key maps to
  leases                  sorted set: RUNNING task id -> lease expiry (ms, Redis clock)
  undispatched            sorted set: QUEUED task id whose queue message may not have
                          been sent -> when the sweeper should send it (ms)
  counts                  hash: tasks submitted and ended, by kind (see `TaskCounts`).
                          Every end renews its TTL: it lives while tasks keep ending and
                          goes one TTL after the last, when the counts restart from zero
                          (a counter reset, to Prometheus).

Leases and dispatch. A worker holds a lease on its RUNNING task and renews it;
a lapsed lease means the worker died, and the task is requeued (or ends
WORKER_LOST after `max_attempts` lost runs). Dramatiq may also redeliver a dead
worker's message; both paths meet in START, which runs a task only when it is
QUEUED or RUNNING under a lapsed lease, so a duplicate message is dropped and
a task never runs twice at once. Writes are fenced by the attempt number, so a
worker that lost its lease cannot overwrite the outcome of the run that
replaced it. A task is written `undispatched` together with the state that
needs a message (created, requeued) and cleared once the message is sent: a
process dying in between leaves it for `actors.worker.sweeper` to send.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import cast

import redis

from actors.records import (
    ResultInfo,
    TaskKind,
    TaskRecord,
    TaskStatus,
    from_hash,
    now,
    result_json,
    to_hash,
)
from actors.store import scripts
from actors.store.outage import Script

Inputs = Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """Tasks created and ended since the counts began, over every web node and worker.

    Counted inside the scripts that create and end a task (hash fields
    `submitted:<kind>`, `finished:<kind>:<status>`, `failed:<kind>:<error code>`),
    so each task is counted once, however many processes saw it.
    """

    submitted: dict[TaskKind, int] = field(default_factory=dict)
    finished: dict[tuple[TaskKind, TaskStatus], int] = field(default_factory=dict)
    failed: dict[tuple[TaskKind, str], int] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> TaskCounts:
        submitted: dict[TaskKind, int] = {}
        finished: dict[tuple[TaskKind, TaskStatus], int] = {}
        failed: dict[tuple[TaskKind, str], int] = {}
        for name, value in raw.items():
            what, _, rest = name.decode().partition(":")
            kind, _, detail = rest.partition(":")
            if kind not in TaskKind.__members__:
                continue  # written by newer code
            if what == "submitted":
                submitted[TaskKind(kind)] = int(value)
            elif what == "finished" and detail in TaskStatus.__members__:
                finished[TaskKind(kind), TaskStatus(detail)] = int(value)
            elif what == "failed":
                failed[TaskKind(kind), detail] = int(value)
        return cls(submitted, finished, failed)


class TaskStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "atelier:",
        ttl: int = 3600,
        lease_seconds: float = 30.0,
        dispatch_grace: float = 30.0,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl
        self.lease_ms = int(lease_seconds * 1000)
        self.dispatch_ms = int(dispatch_grace * 1000)
        # A full Redis's refusal of any of them raises OutOfMemoryError (an outage).
        self._create = Script(client, scripts.CREATE)
        self._start = Script(client, scripts.START)
        self._progress = Script(client, scripts.PROGRESS)
        self._finish = Script(client, scripts.FINISH)
        self._cancel = Script(client, scripts.CANCEL)
        self._renew = Script(client, scripts.RENEW)
        self._reap = Script(client, scripts.REAP)
        self._requeue = Script(client, scripts.REQUEUE)

    # -- keys --------------------------------------------------------------
    def key(self, task_id: str, part: str = "") -> str:
        return f"{self.prefix}task:{task_id}{':' + part if part else ''}"

    def owner_key(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    def live_key(self, owner: str) -> str:
        """How many of the owner's tasks are QUEUED or RUNNING."""
        return self.owner_key(owner) + ":live"

    def queue_key(self, queue: str) -> str:
        return f"{self.prefix}queue:{queue}"

    @property
    def leases_key(self) -> str:
        return f"{self.prefix}leases"

    @property
    def undispatched_key(self) -> str:
        return f"{self.prefix}undispatched"

    @property
    def counts_key(self) -> str:
        """The hash behind `TaskCounts`."""
        return f"{self.prefix}counts"

    def idempotency_key(self, owner: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.prefix}idem:{owner}:{digest}"

    def _task_keys(self, record: TaskRecord) -> list[str]:
        """The keys every state-change script takes, in the order scripts.py gives."""
        owner_index = self.owner_key(record.owner)
        return [
            self.key(record.id),
            self.key(record.id, "result"),
            self.key(record.id, "preview"),
            record.idempotency_ref or self.key(record.id, "no-idempotency"),
            owner_index,
            self.live_key(record.owner),
            self.queue_key(record.queue),
            self.queue_key(record.queue) + ":tickets",
            self.leases_key,
            self.undispatched_key,
            self.counts_key,
            *(self.key(record.id, f"input:{name}") for name in record.params.get("_inputs", [])),
        ]

    # -- writes --------------------------------------------------------------
    def create(
        self, record: TaskRecord, inputs: Inputs, *, idempotency_key: str | None = None
    ) -> tuple[TaskRecord, bool]:
        """Store a new QUEUED task and its inputs. Returns (task, created).

        With an idempotency key this owner used for a task that still exists,
        nothing is written and that task is returned with created=False.
        """
        idem = self.idempotency_key(record.owner, idempotency_key) if idempotency_key else None
        params = {**record.params, "_inputs": sorted(inputs)}
        record = record.evolve(params=params, idempotency_ref=idem, stage=record.stage or "queued")
        flat = [item for pair in to_hash(record).items() for item in pair]
        created, task_id = self._create(
            keys=self._task_keys(record),
            args=[
                record.id,
                # Microseconds: tasks created in the same millisecond still sort.
                int(record.created_at.timestamp() * 1_000_000),
                "1" if idem else "0",
                self.key(""),
                self.dispatch_ms,
                len(flat) // 2,
                *flat,
                *(inputs[name] for name in sorted(inputs)),
            ],
        )
        if created:
            return record, True
        existing = self.get(task_id.decode())
        # Expired in the instant between the script and this read: report it as it was.
        return (existing or record), False

    def find_idempotent(self, owner: str, key: str) -> TaskRecord | None:
        """The live-or-kept task this owner submitted under `key`, if any."""
        task_id = cast(bytes | None, self.client.get(self.idempotency_key(owner, key)))
        return self.get(task_id.decode()) if task_id else None

    def start(
        self, task_id: str, *, max_attempts: int = 2, worker: str = "", run: str | None = None
    ) -> TaskRecord | None:
        """Claim a task for `worker`: the record, RUNNING under a new attempt and a lease.

        `run` names this claim, so that retrying it after a lost reply returns the
        task it already claimed rather than finding it held by "someone else".

        QUEUED -> RUNNING. RUNNING under a lapsed lease (its worker died and the
        message came back): taken over while attempts remain, else ended (FAILED
        WORKER_LOST, or CANCELLED if asked); that terminal record is returned to
        be published. None when the task is gone, ended, or held by a live worker.
        """
        record = self.get(task_id)
        if record is None:
            return None
        raw = self._start(
            keys=self._task_keys(record),
            args=[
                task_id,
                now().isoformat(),
                max_attempts,
                self.lease_ms,
                worker,
                run or uuid.uuid4().hex,
                *self._worker_lost_args(max_attempts),
            ],
        )
        return _decode(raw)

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
            keys=self._task_keys(record),
            args=[task_id, max_attempts, self.dispatch_ms, *self._worker_lost_args(max_attempts)],
        )
        return _decode(raw)

    def requeue(self, record: TaskRecord) -> TaskRecord | None:
        """Hand `record`'s run back (worker shutting down): QUEUED again, not counted as
        lost; CANCELLED instead when a cancel was asked for."""
        raw = self._requeue(
            keys=self._task_keys(record),
            args=[
                record.id,
                record.attempts,
                self.dispatch_ms,
                *self._terminate_args(
                    TaskStatus.CANCELLED, "cancelled", ("CANCELLED", "the task was cancelled"), None
                ),
            ],
        )
        return _decode(raw)

    def dispatched(self, task_id: str) -> None:
        """The task's queue message is sent: the sweeper need not send it."""
        self.client.zrem(self.undispatched_key, task_id)

    def lapsed_leases(self, limit: int = 100) -> list[str]:
        """Ids of RUNNING tasks whose lease ran out (by Redis's clock)."""
        return self._due(self.leases_key, limit)

    def due_dispatches(self, limit: int = 100) -> list[str]:
        """Ids of tasks whose message may never have been sent, past their grace."""
        return self._due(self.undispatched_key, limit)

    def _due(self, key: str, limit: int) -> list[str]:
        seconds, micros = cast(tuple[int, int], self.client.time())
        now_ms = seconds * 1000 + micros // 1000
        ids = cast(list[bytes], self.client.zrangebyscore(key, "-inf", now_ms, start=0, num=limit))
        return [task_id.decode() for task_id in ids]

    def _worker_lost_args(self, max_attempts: int) -> list[str | int]:
        return self._terminate_args(
            TaskStatus.FAILED,
            "failed",
            ("WORKER_LOST", f"the worker running this task was lost {max_attempts} times"),
            None,
        )

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
        width, height, png = preview or ("", "", b"")
        raw = self._progress(
            keys=[self.key(record.id), self.key(record.id, "preview")],
            args=[
                record.attempts,
                repr(float(progress)),
                stage,
                "" if step is None else step,
                "" if total_steps is None else total_steps,
                width,
                height,
                png,
            ],
        )
        return _decode(raw)

    def succeed(self, record: TaskRecord, result: ResultInfo, png: bytes) -> TaskRecord | None:
        return self._terminate(
            record,
            TaskStatus.SUCCEEDED,
            "done",
            result=result,
            png=png,
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
            record,
            TaskStatus.CANCELLED,
            "cancelled",
            error=("CANCELLED", "the task was cancelled"),
            expected=TaskStatus.RUNNING,
        )

    def cancel(self, task_id: str) -> TaskRecord | None:
        """QUEUED -> CANCELLED at once; RUNNING -> cancel requested; terminal: unchanged."""
        record = self.get(task_id)
        if record is None:
            return None
        raw = self._cancel(
            keys=self._task_keys(record),
            args=self._terminate_args(
                TaskStatus.CANCELLED, "cancelled", ("CANCELLED", "the task was cancelled"), None
            ),
        )
        return _decode(raw)

    def _terminate(
        self,
        record: TaskRecord,
        status: TaskStatus,
        stage: str,
        *,
        expected: TaskStatus,
        error: tuple[str, str] | None = None,
        result: ResultInfo | None = None,
        png: bytes = b"",
    ) -> TaskRecord | None:
        """End the task, if it is still `expected` under `record`'s attempt."""
        raw = self._finish(
            keys=self._task_keys(record),
            args=[
                record.attempts,
                expected.value,
                *self._terminate_args(status, stage, error, result),
                png,
            ],
        )
        return _decode(raw)

    def _terminate_args(
        self,
        status: TaskStatus,
        stage: str,
        error: tuple[str, str] | None,
        result: ResultInfo | None,
    ) -> list[str | int]:
        finished = now()
        code, message = error or ("", "")
        return [
            status.value,
            finished.isoformat(),
            (finished + timedelta(seconds=self.ttl)).isoformat(),
            self.ttl,
            stage,
            code,
            message,
            result_json(result),
        ]

    # -- reads ---------------------------------------------------------------
    def get(self, task_id: str) -> TaskRecord | None:
        return _decode(cast(dict[bytes, bytes], self.client.hgetall(self.key(task_id))))

    def result_png(self, task_id: str) -> bytes | None:
        return self._bytes(self.key(task_id, "result"))

    def preview_png(self, task_id: str) -> bytes | None:
        return self._bytes(self.key(task_id, "preview"))

    def input_bytes(self, task_id: str, name: str) -> bytes | None:
        return self._bytes(self.key(task_id, f"input:{name}"))

    def _bytes(self, key: str) -> bytes | None:
        return cast(bytes | None, self.client.get(key))

    def queue_position(self, record: TaskRecord) -> int | None:
        """1 = next to start; None unless QUEUED. O(log n)."""
        if record.status is not TaskStatus.QUEUED:
            return None
        rank = cast(int | None, self.client.zrank(self.queue_key(record.queue), record.id))
        return None if rank is None else rank + 1

    def list_for_owner(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        """The owner's tasks, newest first; ids whose records expired are pruned."""
        found: list[TaskRecord] = []
        start, batch = 0, max(limit, 20)
        key = self.owner_key(owner)
        while len(found) < limit:
            page = cast(list[bytes], self.client.zrevrange(key, start, start + batch - 1))
            ids = [task_id.decode() for task_id in page]
            if not ids:
                break
            with self.client.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.hgetall(self.key(task_id))
                raws = pipe.execute()
            gone = [task_id for task_id, raw in zip(ids, raws, strict=True) if not raw]
            if gone:
                self.client.zrem(key, *gone)
                start -= len(gone)
            for raw in raws:
                record = _decode(raw)
                if record and (status is None or record.status is status):
                    found.append(record)
            start += batch
        return found[:limit]

    def counts(self) -> TaskCounts:
        return TaskCounts.from_hash(cast(dict[bytes, bytes], self.client.hgetall(self.counts_key)))

    def ping(self) -> bool:
        return bool(self.client.ping())


def _decode(raw: Iterable[bytes] | dict[bytes, bytes] | None) -> TaskRecord | None:
    if not raw:
        return None
    if isinstance(raw, dict):
        return from_hash({k.decode(): v.decode() for k, v in raw.items()})
    items = list(raw)
    return from_hash({items[i].decode(): items[i + 1].decode() for i in range(0, len(items), 2)})
