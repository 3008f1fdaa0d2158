"""Task records for tests: distinct ids and creation times that increase with `at`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.config import QUEUES
from actors.records import TaskKind, TaskRecord

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def new_task(
    owner: str = "alice",
    *,
    at: float = 0.0,
    kind: TaskKind = TaskKind.IMAGE_GENERATION,
    params: dict[str, Any] | None = None,
) -> TaskRecord:
    """A QUEUED task created `at` seconds after a fixed epoch."""
    return TaskRecord(
        id=str(uuid.uuid4()),
        kind=kind,
        owner=owner,
        queue=QUEUES[kind],
        params={"prompt": "a lighthouse at dusk"} if params is None else params,
        created_at=EPOCH + timedelta(seconds=at),
    )
