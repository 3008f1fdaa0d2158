"""The output types of the contract (see ../shared/ARCHITECTURE.md)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from actors.interface import (
    ResultInfo,
    TaskErrorCode,
    TaskKind,
    TaskPriority,
    TaskRecord,
    TaskStage,
    TaskStatus,
    code_of,
    stage_of,
)
from graph.context import Context
from graph.errors import NotFound
from graph.links import PREVIEW, link_expiry, result_index, result_variant
from graph.node import Node
from graph.resultmetadata import ResultMetadata, result_metadata
from graph.webhooks import WebhookStatus, webhook_status

# The job system's enums are the API's: registered once, used as they are.
strawberry.enum(TaskKind, name="TaskKind")
strawberry.enum(TaskStatus, name="TaskStatus")
strawberry.enum(
    TaskPriority,
    name="TaskPriority",
    description="Within a queue, HIGH tasks start before NORMAL ones and NORMAL before LOW; "
    "within a priority, callers take turns (fair share), then first come first served.",
)
strawberry.enum(
    TaskStage,
    name="TaskStage",
    description="Task.stage as an enum, to switch on (stage stays the text to show).",
)
strawberry.enum(
    TaskErrorCode,
    name="TaskErrorCode",
    description="TaskError.code as an enum, to switch on.",
)


@strawberry.type(description="A PNG image held by the server for a limited time.")
class Image:
    content_type: str
    width: int
    height: int
    url: str = strawberry.field(
        description="Signed, time-limited link: works in an <img> tag with no headers."
    )
    task_id: strawberry.Private[str]
    variant: strawberry.Private[str]

    @strawberry.field(description="The same bytes inline, base64-encoded; read when selected.")
    async def base64(self, info: Info[Context, None]) -> str:
        jobs = info.context.jobs
        index = result_index(self.variant)
        if index is None:
            data = await jobs.preview_png(self.task_id)
        else:
            data = await jobs.result_png(self.task_id, index)
        if data is None:
            raise NotFound("the image has expired")
        return base64.b64encode(data).decode()


@strawberry.type
class TaskError:
    code: str
    message: str
    reason: TaskErrorCode | None = strawberry.field(
        description="`code` as an enum; null for a code this server version does not know."
    )


@strawberry.type
class TaskResult:
    image: Image
    prompt_used: str | None
    negative_prompt_used: str | None
    seed: int | None
    metadata: JSON
    details: ResultMetadata = strawberry.field(
        description="`metadata`, typed: the fields clients use most."
    )
    images: list[Image] = strawberry.field(
        description="Every image of the result, in order: the first is `image`."
    )
    seeds: list[int] | None = strawberry.field(
        description=(
            "One seed per image, in the order of `images` (the first is `seed`), each "
            "reproducing its image alone; null when the kind uses none."
        )
    )


@strawberry.type
class Task(Node):
    kind: TaskKind
    status: TaskStatus
    priority: TaskPriority
    progress: float = strawberry.field(description="0.0 .. 1.0, never decreases; 1.0 on SUCCEEDED")
    stage: str | None
    stage_code: TaskStage | None = strawberry.field(
        description="`stage` as an enum; null before a first stage or for a stage this "
        "server version does not know."
    )
    step: int | None
    total_steps: int | None
    preview: Image | None
    error: TaskError | None
    result: TaskResult | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = strawberry.field(
        description="When record and result disappear (set once terminal)."
    )
    deadline_at: datetime | None = strawberry.field(
        description=(
            "When a task submitted with deadlineSeconds must have finished: past it, it "
            "ends CANCELLED with error.code DEADLINE_EXCEEDED."
        )
    )
    cancel_requested: bool = strawberry.field(
        description="A cancel was asked for while RUNNING; the task stops at its next step."
    )
    sequence: int = strawberry.field(
        description="Bumped by every change; orders the events of one task."
    )
    attempts: int = strawberry.field(
        description=(
            "Runs started so far: more than 1 when a worker was lost or stopped mid-run "
            "and the task was run again."
        )
    )
    webhook: WebhookStatus | None = strawberry.field(
        description="The webhook given at submit, and how its deliveries went."
    )
    record: strawberry.Private[TaskRecord]

    @strawberry.field(description="1 = next to start; null unless QUEUED.")
    async def queue_position(self, info: Info[Context, None]) -> int | None:
        return await info.context.jobs.queue_position(self.record)

    @strawberry.field(
        description="QUEUED: when a worker should take it, from measured run times per kind "
        "and model and the workers serving its queue; null until there is a measurement."
    )
    async def estimated_start_at(self, info: Info[Context, None]) -> datetime | None:
        if self.record.status is not TaskStatus.QUEUED:
            return None
        return (await info.context.jobs.estimate(self.record)).start_at

    @strawberry.field(
        description="QUEUED or RUNNING: when it should finish (see estimatedStartAt)."
    )
    async def estimated_finish_at(self, info: Info[Context, None]) -> datetime | None:
        if self.record.status.terminal:
            return None
        return (await info.context.jobs.estimate(self.record)).finish_at


def task_from_record(record: TaskRecord, context: Context) -> Task:
    expires = link_expiry(record.expires_at, context.result_ttl)

    def image(variant: str, width: int, height: int) -> Image:
        path = context.links.path(record.id, variant, expires)
        return Image(
            content_type="image/png",
            width=width,
            height=height,
            url=context.base_url + path,
            task_id=record.id,
            variant=variant,
        )

    result = None
    if record.result is not None and record.status is TaskStatus.SUCCEEDED:
        info = record.result
        images = [
            image(result_variant(index), info.width, info.height)
            for index in range(max(1, info.image_count))
        ]
        result = TaskResult(
            image=images[0],
            prompt_used=info.prompt_used,
            negative_prompt_used=info.negative_prompt_used,
            seed=info.seed,
            metadata=cast(JSON, info.metadata),
            details=result_metadata(info.metadata),
            images=images,
            seeds=_seeds(info),
        )
    preview = None
    if record.preview_width is not None and record.preview_height is not None:
        preview = image(PREVIEW, record.preview_width, record.preview_height)
    error = None
    if record.error_code:
        error = TaskError(
            code=record.error_code,
            message=record.error_message or "",
            reason=code_of(record.error_code),
        )
    return Task(
        id=strawberry.ID(record.id),
        kind=record.kind,
        status=record.status,
        priority=record.priority,
        progress=record.progress,
        stage=record.stage,
        stage_code=stage_of(record.stage),
        step=record.step,
        total_steps=record.total_steps,
        preview=preview,
        error=error,
        result=result,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        expires_at=record.expires_at,
        deadline_at=(
            None
            if record.deadline_ms is None
            else datetime.fromtimestamp(record.deadline_ms / 1000, UTC)
        ),
        cancel_requested=record.cancel_requested,
        sequence=record.seq,
        attempts=record.attempts,
        webhook=webhook_status(record),
        record=record,
    )


def _seeds(info: ResultInfo) -> list[int] | None:
    """A record written before results held several images has its `seed` alone."""
    if info.seeds is not None:
        return info.seeds
    return None if info.seed is None else [info.seed]
