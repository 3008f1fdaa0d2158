"""A webhook's body: the event type and the task, under the GraphQL Task's field names.

`task_data` gives the fields of `WEBHOOK_FIELDS` (a Task selection), built from the
record as graph.types builds the GraphQL Task; a test queries the same selection and
compares, so the two cannot drift. Image URLs are the web's signed links (graph.links),
which `ImageLinks` makes on the worker with the web's secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from actors.records import TaskRecord, TaskStatus, utc_text

EVENT_TYPES = {
    "STARTED": "task.started",
    "PROGRESS": "task.progress",
    "COMPLETED": "task.completed",
}

WEBHOOK_FIELDS = """
id kind status progress stage step totalSteps
preview { contentType width height url }
error { code message }
result {
  image { contentType width height url } images { contentType width height url }
  promptUsed negativePromptUsed seed seeds metadata
}
createdAt startedAt finishedAt expiresAt deadlineAt cancelRequested sequence attempts
"""


class ImageLinks(Protocol):
    """`Image.url` of a task's images: the web's signed, time-limited links, absolute.
    project.webhooklinks makes them; the actors cannot (the links are the web's)."""

    def url(self, record: TaskRecord, image: int | None) -> str | None:
        """The link of the result's image `image` (0: the first), or of the preview
        (None); None when no base URL is known (a task submitted by older code)."""
        ...


def _time(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def _image(width: int, height: int, url: str | None) -> dict[str, Any]:
    image: dict[str, Any] = {"contentType": "image/png", "width": width, "height": height}
    if url is not None:
        image["url"] = url
    return image


def _result(record: TaskRecord, links: ImageLinks) -> dict[str, Any] | None:
    info = record.result
    if info is None or record.status is not TaskStatus.SUCCEEDED:
        return None
    seeds = info.seeds if info.seeds is not None else None if info.seed is None else [info.seed]
    images = [
        _image(info.width, info.height, links.url(record, index))
        for index in range(max(1, info.image_count))
    ]
    return {
        "image": images[0],
        "images": images,
        "promptUsed": info.prompt_used,
        "negativePromptUsed": info.negative_prompt_used,
        "seed": info.seed,
        "seeds": seeds,
        "metadata": info.metadata,
    }


def task_data(record: TaskRecord, links: ImageLinks) -> dict[str, Any]:
    preview = None
    if record.preview_width is not None and record.preview_height is not None:
        preview = _image(record.preview_width, record.preview_height, links.url(record, None))
    error = None
    if record.error_code:
        error = {"code": record.error_code, "message": record.error_message or ""}
    deadline = None
    if record.deadline_ms is not None:
        deadline = datetime.fromtimestamp(record.deadline_ms / 1000, UTC)
    return {
        "id": record.id,
        "kind": record.kind.value,
        "status": record.status.value,
        "progress": record.progress,
        "stage": record.stage,
        "step": record.step,
        "totalSteps": record.total_steps,
        "preview": preview,
        "error": error,
        "result": _result(record, links),
        "createdAt": _time(record.created_at),
        "startedAt": _time(record.started_at),
        "finishedAt": _time(record.finished_at),
        "expiresAt": _time(record.expires_at),
        "deadlineAt": _time(deadline),
        "cancelRequested": record.cancel_requested,
        "sequence": record.seq,
        "attempts": record.attempts,
    }


def body(record: TaskRecord, event: str, timestamp: datetime, links: ImageLinks) -> bytes:
    """The JSON body of `event` (a WebhookEvent name) about `record`."""
    document = {
        "type": EVENT_TYPES[event],
        "timestamp": utc_text(timestamp),
        "data": task_data(record, links),
    }
    return json.dumps(document, separators=(",", ":")).encode()
