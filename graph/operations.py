"""The operators' view: queues, running tasks and workers (`Query.operations`, admin keys only)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

# Registers the job system's enums (TaskKind, TaskPriority) as the API's before the
# fields below use them, whichever module is imported first (graph.opsupdates is).
import graph.types  # noqa: F401
from actors import interface
from actors.interface import TaskKind, TaskPriority
from graph import opshistory
from graph.context import Context
from graph.errors import BadUserInput


@strawberry.type(description="How many tasks wait in a queue at one priority.")
class PriorityDepth:
    priority: TaskPriority
    queued_tasks: int


@strawberry.type(description="Where a caller with tasks waiting stands in fair share.")
class OwnerTurn:
    owner: str = strawberry.field(description="The name of the API key.")
    priority: TaskPriority
    rounds_ahead: int = strawberry.field(
        description="Rounds between the one being served and this caller's next task: "
        "about how many of its tasks wait, each taking its turn after other callers'."
    )


@strawberry.type(description="A queue of the job system and what waits on it.")
class QueueDepth:
    name: str = strawberry.field(
        description="A kind's queue (\"image_generation\") or a text-to-image model's "
        '("image_generation.<model>").'
    )
    depth: int = strawberry.field(
        description="Messages ready for a worker to take (not those a worker already fetched)."
    )
    delayed: int = strawberry.field(description="Messages held back until a later time.")
    queued_tasks: int = strawberry.field(
        description="QUEUED tasks on this queue, including any whose message a worker has "
        "fetched but not started: what queuePosition counts."
    )
    by_priority: list[PriorityDepth] = strawberry.field(
        description="queuedTasks at each priority, HIGH first."
    )
    fair_share: list[OwnerTurn] = strawberry.field(
        description="Callers with tasks waiting, by priority, the furthest behind first."
    )


@strawberry.type(description="A task some worker is running now, whoever submitted it.")
class RunningTask:
    id: strawberry.ID
    kind: TaskKind
    owner: str = strawberry.field(description="The name of the API key that submitted it.")
    queue: str
    worker: strawberry.ID | None = strawberry.field(description="The id of the worker running it.")
    stage: str | None
    step: int | None
    total_steps: int | None
    progress: float = strawberry.field(description="0.0 .. 1.0")
    attempts: int = strawberry.field(description="Runs started so far (1 on a first run).")
    cancel_requested: bool
    started_at: datetime | None
    lease_expires_at: datetime = strawberry.field(
        description="When its worker must next renew the task's lease; past it, the worker "
        "counts as lost and the task is run again or ends WORKER_LOST."
    )


@strawberry.type(description="A pipeline held warm in a worker's pipeline cache.")
class LoadedModel:
    kind: TaskKind
    name: str = strawberry.field(description='The model\'s name, or "default" for face swap.')


@strawberry.type(description="The task a worker is running now.")
class WorkerTask:
    id: strawberry.ID
    kind: TaskKind


@strawberry.type(
    description="A worker process heard from recently (see ATELIER_WORKER_STALE_AFTER)."
)
class Worker:
    id: strawberry.ID = strawberry.field(
        description='Its "host:pid", by which running tasks name it (RunningTask.worker).'
    )
    host: str
    pid: int
    queues: list[str] = strawberry.field(description="The queues it takes tasks from.")
    loaded_models: list[LoadedModel] = strawberry.field(
        description="Pipelines it holds warm, least recently used first."
    )
    current_task: WorkerTask | None = strawberry.field(
        description="The task it is running (the first, when several share one pipeline "
        "call: see currentTasks); null when idle."
    )
    current_tasks: list[WorkerTask] = strawberry.field(
        description="Every task it is running: more than one when compatible tasks share "
        "one pipeline call (ATELIER_MAX_BATCH); empty when idle."
    )
    stopping: bool = strawberry.field(
        description="Shutting down: takes no new task; its running task finishes or goes "
        "back to the queue."
    )
    started_at: datetime
    last_seen_at: datetime = strawberry.field(
        description="Its latest announcement (every ATELIER_HEARTBEAT_EVERY seconds)."
    )


@strawberry.type(
    description="The deployment as operators see it: queues, running tasks, workers, "
    "and what ended in the last minutes."
)
class Operations:
    @strawberry.field(description="Every queue a task can be sent to.")
    async def queues(self, info: Info[Context, None]) -> list[QueueDepth]:
        return [
            QueueDepth(
                name=q.name,
                depth=q.ready,
                delayed=q.delayed,
                queued_tasks=q.queued_tasks,
                by_priority=[
                    PriorityDepth(priority=p, queued_tasks=n) for p, n in q.by_priority.items()
                ],
                fair_share=[
                    OwnerTurn(owner=t.owner, priority=t.priority, rounds_ahead=t.rounds_ahead)
                    for t in q.owners
                ],
            )
            for q in await info.context.jobs.queue_depths()
        ]

    @strawberry.field(
        description="Running tasks of every caller, the soonest lease expiry first "
        "(a task whose worker was just lost leads)."
    )
    async def running_tasks(self, info: Info[Context, None], limit: int = 100) -> list[RunningTask]:
        most = info.context.limits.max_running_listed
        if not 1 <= limit <= most:
            raise BadUserInput(f"limit must be from 1 to {most}", "limit")
        return [_running(task) for task in await info.context.jobs.running_tasks(limit)]

    @strawberry.field(description="Worker processes heard from recently, longest-silent first.")
    async def workers(self, info: Info[Context, None]) -> list[Worker]:
        return [_worker(worker) for worker in await info.context.jobs.workers()]

    @strawberry.field(
        description="Tasks that failed in the last minutes, by error code and kind, the "
        "most frequent first. " + opshistory.MINUTES
    )
    async def recent_failures(
        self, info: Info[Context, None], minutes: int = opshistory.DEFAULT_MINUTES
    ) -> list[opshistory.FailureCount]:
        recent = await info.context.jobs.recent_counts(opshistory.check_minutes(minutes))
        return opshistory.failures(recent)

    @strawberry.field(
        description="Tasks that ended in each of the last minutes, oldest first. "
        + opshistory.MINUTES
    )
    async def throughput(
        self, info: Info[Context, None], minutes: int = opshistory.DEFAULT_MINUTES
    ) -> list[opshistory.MinuteThroughput]:
        recent = await info.context.jobs.recent_counts(opshistory.check_minutes(minutes))
        return opshistory.throughput(recent)


def _running(task: interface.RunningTask) -> RunningTask:
    record = task.record
    return RunningTask(
        id=strawberry.ID(record.id),
        kind=record.kind,
        owner=record.owner,
        queue=record.queue,
        worker=None if record.worker is None else strawberry.ID(record.worker),
        stage=record.stage,
        step=record.step,
        total_steps=record.total_steps,
        progress=record.progress,
        attempts=record.attempts,
        cancel_requested=record.cancel_requested,
        started_at=record.started_at,
        lease_expires_at=task.lease_expires_at,
    )


def _worker(worker: interface.WorkerInfo) -> Worker:
    assert worker.started_at is not None and worker.last_seen_at is not None
    running = [WorkerTask(id=strawberry.ID(task.id), kind=task.kind) for task in worker.tasks]
    return Worker(
        id=strawberry.ID(worker.id),
        host=worker.host,
        pid=worker.pid,
        queues=list(worker.queues),
        loaded_models=[LoadedModel(kind=m.kind, name=m.name) for m in worker.models],
        current_task=running[0] if running else None,
        current_tasks=running,
        stopping=worker.stopping,
        started_at=worker.started_at,
        last_seen_at=worker.last_seen_at,
    )
