"""The terminate block: the ARGV of every script that may end a task, in the order
`terminate` (lua/task_library.lua) reads it: status, finished_at, expires_at, ttl,
stage, error_code, error_message, result_json. Built here only."""

from __future__ import annotations

from datetime import timedelta

from actors.records import ResultInfo, TaskStatus, now, result_json

CANCELLED = ("CANCELLED", "the task was cancelled")


def terminate_args(
    ttl: int,
    status: TaskStatus,
    stage: str,
    error: tuple[str, str] | None = None,
    result: ResultInfo | None = None,
) -> list[str | int]:
    """Ending a task `status` now; its keys expire `ttl` seconds later."""
    finished = now()
    code, message = error or ("", "")
    return [
        status.value,
        finished.isoformat(),
        (finished + timedelta(seconds=ttl)).isoformat(),
        ttl,
        stage,
        code,
        message,
        result_json(result),
    ]


def cancelled_args(ttl: int) -> list[str | int]:
    """Ending a task CANCELLED (cancelled while QUEUED, or a cancel asked of a RUNNING one)."""
    return terminate_args(ttl, TaskStatus.CANCELLED, "cancelled", CANCELLED)


def worker_lost_args(ttl: int, max_attempts: int) -> list[str | int]:
    """Ending a task whose workers were lost `max_attempts` times: FAILED WORKER_LOST."""
    message = f"the worker running this task was lost {max_attempts} times"
    return terminate_args(ttl, TaskStatus.FAILED, "failed", ("WORKER_LOST", message))
