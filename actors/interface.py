"""The job system as the API layer sees it: one small Protocol, the values it
exchanges, its errors, and the checks of what the pipelines accept.

`graph/` imports the job system from this module only. It never sees Dramatiq, the
channel layer's messages or `pipelines/`: a subscription hands `Jobs.watch` the
transport's `Listen`, and input images are checked with the functions below before
a task is submitted. `actors.client.ownerjobs.OwnerJobSystem` (`JobSystem` with each
owner's view) is the implementation `project/` wires.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from actors.client.admission import Refused
from actors.client.eta import Estimate
from actors.client.jobsystem import Listen
from actors.client.overview import QueueDepth, RunningTask
from actors.client.submitting import EnqueueFailed, NewTask
from actors.errorcodes import TaskErrorCode, code_of
from actors.memo import Recent
from actors.records import (
    ResultInfo,
    TaskKind,
    TaskPriority,
    TaskRecord,
    TaskStatus,
    is_task_id,
    utc_text,
)
from actors.stages import TaskStage, stage_of
from actors.store.outage import StoreUnavailable
from actors.store.reads import OwnerPosition
from actors.store.recent import MAX_MINUTES as MAX_RECENT_MINUTES
from actors.store.recent import MinuteCounts
from actors.store.registry import CurrentTask, LoadedModel, WorkerInfo
from actors.webhooks.addresses import AllowList, UnsafeWebhook
from actors.webhooks.addresses import check as check_webhook_url
from actors.webhooks.config import WebhookEvent, WebhookRequest, WebhookSettings
from pipelines.errors import InvalidImage
from pipelines.images import ImageLimits, decode_image, read_header
from pipelines.lora import MAX_LORAS
from pipelines.lora import MAX_SCALE as MAX_LORA_SCALE
from pipelines.lora import MIN_SCALE as MIN_LORA_SCALE
from pipelines.prompts import STYLE_PRESETS, clean_text
from pipelines.schedulers import SCHEDULERS


class Jobs(Protocol):
    """Submit, follow and manage tasks on behalf of an owner (an API key's name).

    Every method raises `StoreUnavailable` while Redis cannot be reached. A task of
    another owner is treated as unknown: None, never an error.
    """

    async def submit(
        self,
        owner: str,
        kind: TaskKind,
        params: Mapping[str, Any],
        inputs: Mapping[str, bytes],
        *,
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookRequest | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
        vet: Callable[[], Awaitable[None]] | None = None,
    ) -> TaskRecord:
        """A QUEUED task (or the first one of a known idempotency key), ended
        DEADLINE_EXCEEDED if not finished `deadline_seconds` after; `webhook`'s url
        checked with `check_webhook_url`. Raises
        `Refused` when the owner or the queues are over their limits, and
        `EnqueueFailed`; `vet` runs once admitted, before anything is recorded."""
        ...

    async def submit_many(
        self,
        owner: str,
        tasks: Sequence[NewTask],
        *,
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookRequest | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
        vet: Callable[[], Awaitable[None]] | None = None,
    ) -> list[TaskRecord]:
        """`submit` for several tasks, admitted all or none (`Refused` OVER_BURST for
        more than a full token bucket); one idempotency key for the batch."""
        ...

    async def get(self, owner: str, task_id: str) -> TaskRecord | None: ...

    async def cancel(self, owner: str, task_id: str) -> TaskRecord | None: ...

    def watch(self, owner: str, task_id: str, listen: Listen) -> AsyncGenerator[TaskRecord, None]:
        """The task now, then each change in order until a terminal status; nothing
        for an unknown task."""
        ...

    def watch_owner(
        self, owner: str, listen: Listen, *, statuses: Collection[TaskStatus] | None = None
    ) -> AsyncGenerator[TaskRecord, None]:
        """The owner's QUEUED and RUNNING tasks now, then every change of any of their
        tasks, each task's in order, those with one of `statuses` (all when None);
        never ends by itself."""
        ...

    async def estimate(self, record: TaskRecord) -> Estimate:
        """When the task should start (QUEUED) and finish (QUEUED, RUNNING); None
        where there is no measurement or no worker for its queue yet."""
        ...

    async def tell_position(self, record: TaskRecord) -> None:
        """Publish the QUEUED task again when its queue position moved since its
        subscribers last heard (at most once a second)."""
        ...

    async def queue_position(self, record: TaskRecord) -> int | None: ...

    async def result_png(self, task_id: str, index: int = 0) -> bytes | None:
        """The result's image `index` (0: the first, `TaskResult.image`); None past the
        last (`ResultInfo.image_count`) or once expired."""
        ...

    async def preview_png(self, task_id: str) -> bytes | None: ...

    # The operators' view: callers check who may see it.
    async def queue_depths(self) -> Sequence[QueueDepth]: ...

    async def running_tasks(self, limit: int) -> Sequence[RunningTask]: ...

    async def workers(self) -> Sequence[WorkerInfo]: ...

    async def recent_counts(self, minutes: int) -> Sequence[MinuteCounts]:
        """Tasks ended in each of the last `minutes` minutes (1..MAX_RECENT_MINUTES),
        oldest first, the current minute last."""
        ...

    async def owner_of(self, task_id: str) -> str | None:
        """Who submitted the task (for an operator's cancel); None when unknown."""
        ...

    async def list(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> builtins.list[TaskRecord]:
        """The owner's tasks, newest first."""
        ...

    async def page(
        self,
        owner: str,
        *,
        status: TaskStatus | None = None,
        limit: int = 20,
        after: OwnerPosition | None = None,
    ) -> tuple[builtins.list[tuple[OwnerPosition, TaskRecord]], bool]:
        """Up to `limit` of the owner's tasks newest first from just after `after` (a
        position an earlier page gave), each with its position; and whether more follow."""
        ...


__all__ = [
    "MAX_LORAS",
    "MAX_LORA_SCALE",
    "MAX_RECENT_MINUTES",
    "MIN_LORA_SCALE",
    "SCHEDULERS",
    "STYLE_PRESETS",
    "AllowList",
    "CurrentTask",
    "EnqueueFailed",
    "Estimate",
    "ImageLimits",
    "InvalidImage",
    "Jobs",
    "Listen",
    "LoadedModel",
    "MinuteCounts",
    "NewTask",
    "OwnerPosition",
    "QueueDepth",
    "Recent",
    "Refused",
    "ResultInfo",
    "RunningTask",
    "StoreUnavailable",
    "TaskErrorCode",
    "TaskKind",
    "TaskPriority",
    "TaskRecord",
    "TaskStage",
    "TaskStatus",
    "UnsafeWebhook",
    "WebhookEvent",
    "WebhookRequest",
    "WebhookSettings",
    "WorkerInfo",
    "check_webhook_url",
    "clean_text",
    "code_of",
    "decode_image",
    "is_task_id",
    "read_header",
    "stage_of",
    "utc_text",
]
