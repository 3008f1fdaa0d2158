"""The task record: what Redis holds for a task, and the event published on each change.

Defined once, serialised in one place (`to_hash`/`from_hash`, for the Redis hash and
for events: actors.events). Image bytes never live here.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any


class TaskKind(enum.StrEnum):
    IMAGE_GENERATION = "IMAGE_GENERATION"
    BACKGROUND_REMOVAL = "BACKGROUND_REMOVAL"
    FACE_SWAP = "FACE_SWAP"
    IMAGE_TO_IMAGE = "IMAGE_TO_IMAGE"
    INPAINTING = "INPAINTING"


class TaskStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskPriority(enum.StrEnum):
    """Within a queue, every HIGH task before every NORMAL one, and NORMAL before LOW."""

    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"


@dataclass(frozen=True, slots=True)
class ResultInfo:
    """What describes a stored result; the PNG bytes sit beside the record."""

    width: int
    height: int
    seed: int | None = None
    prompt_used: str | None = None
    negative_prompt_used: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Images in the result (the first beside the record, the others in its `results`
    # hash), and one seed per image (seeds[0] == seed; None for kinds without seeds).
    image_count: int = 1
    seeds: list[int] | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as the store holds it: one immutable snapshot per sequence number.

    Every change makes a new record with `seq` one higher (only the store's scripts
    make them); subscribers order and de-duplicate by it. `params` are the pipeline's
    parameters as submitted (never sent to subscribers); image bytes live beside it.
    """

    id: str
    kind: TaskKind
    owner: str
    queue: str
    status: TaskStatus = TaskStatus.QUEUED
    priority: TaskPriority = TaskPriority.NORMAL
    # Its place in the queue (see actors/store/lua/task_library.lua), kept when requeued.
    queue_score: str | None = None
    # Bumped by every change; subscribers order and de-duplicate events by it.
    seq: int = 0
    progress: float = 0.0
    stage: str | None = None
    step: int | None = None
    total_steps: int | None = None
    preview_width: int | None = None
    preview_height: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    result: ResultInfo | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    # Runs started so far; also the fencing token of the current run's writes.
    attempts: int = 0
    # Runs whose worker died (lease lapsed); WORKER_LOST once it reaches the limit.
    lost: int = 0
    # The worker process holding the task while RUNNING ("host:pid").
    worker: str | None = None
    # The Redis key holding this task's idempotency key, so it expires with the task.
    idempotency_ref: str | None = None
    # Seconds the submitter gave the task to finish, and when that is (Redis's clock,
    # epoch ms, set as the task is created): past it the task ends DEADLINE_EXCEEDED.
    deadline_seconds: int | None = None
    deadline_ms: int | None = None
    # Set with cancel_requested when it is the deadline that stops a running task.
    deadline_exceeded: bool = False
    # The submitter's webhook (see actors.webhooks): where, which events (comma-separated
    # WebhookEvent names), the base URL the web was reached at (of image links in its
    # bodies), and how its deliveries went (written by the deliverer).
    webhook_url: str | None = None
    webhook_events: str | None = None
    webhook_base_url: str | None = None
    webhook_deliveries: int = 0
    webhook_status: int | None = None
    webhook_error: str | None = None
    webhook_delivered: bool = False

    @property
    def has_preview(self) -> bool:
        return self.preview_width is not None

    def evolve(self, **changes: Any) -> TaskRecord:
        return replace(self, **changes)


_DATETIMES = {"created_at", "started_at", "finished_at", "expires_at"}
_INTS = {
    "seq",
    "step",
    "total_steps",
    "preview_width",
    "preview_height",
    "attempts",
    "lost",
    "deadline_seconds",
    "deadline_ms",
    "webhook_deliveries",
    "webhook_status",
}
_JSON = {"params", "result"}


def to_hash(record: TaskRecord) -> dict[str, str]:
    """Field -> string for HSET. Absent (None) fields are left out."""
    out: dict[str, str] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None:
            continue
        if f.name in _DATETIMES:
            out[f.name] = value.isoformat()
        elif f.name == "result":
            out[f.name] = result_json(value)
        elif f.name == "params":
            out[f.name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            out[f.name] = "1" if value else "0"
        else:
            out[f.name] = str(value)
    return out


def result_json(result: ResultInfo | None) -> str:
    return "" if result is None else json.dumps(asdict(result), separators=(",", ":"))


def from_hash(raw: dict[str, str]) -> TaskRecord:
    """Inverse of `to_hash`, tolerant of fields written by newer code."""
    values: dict[str, Any] = {}
    names = {f.name for f in fields(TaskRecord)}
    for name, text in raw.items():
        if name not in names:
            continue
        if name in _DATETIMES:
            values[name] = datetime.fromisoformat(text)
        elif name in _INTS:
            values[name] = int(text)
        elif name == "progress":
            values[name] = float(text)
        elif name in ("cancel_requested", "deadline_exceeded", "webhook_delivered"):
            values[name] = text == "1"
        elif name == "result":
            values[name] = _result_info(json.loads(text))
        elif name == "params":
            values[name] = json.loads(text)
        elif name == "kind":
            values[name] = TaskKind(text)
        elif name == "status":
            values[name] = TaskStatus(text)
        elif name == "priority":
            values[name] = TaskPriority(text)
        else:
            values[name] = text
    return TaskRecord(**values)


def _result_info(stored: dict[str, Any]) -> ResultInfo:
    # Tolerant like the record itself: a node running older code reads what it knows
    # of a result written by newer code (as image_count and seeds once were).
    known = {f.name for f in fields(ResultInfo)}
    return ResultInfo(**{name: value for name, value in stored.items() if name in known})


def is_task_id(text: str) -> bool:
    """Task ids are UUIDs; anything else (e.g. "<id>:result") names no task."""
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def now() -> datetime:
    return datetime.now(UTC)


def utc_text(value: datetime) -> str:
    """`value` as clients' JavaScript writes a time (`toISOString`): ISO 8601 in UTC with
    milliseconds and a `Z`, e.g. 2026-12-05T14:03:07.125Z. What the API and webhooks
    send, so a client compares our times with its own as strings."""
    if value.tzinfo is None:  # the job system's times are UTC; a naive one is too
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
