"""`myTasks`: every change of every task of the caller, on one subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from actors.interface import StoreUnavailable, TaskStatus
from graph.context import Context
from graph.errors import BadUserInput, unavailable
from graph.queueupdates import with_position_checks
from graph.types import Task, task_from_record

DESCRIPTION = (
    "Your QUEUED and RUNNING tasks now, then every change of any of your tasks (those "
    "submitted later included), each task's changes in order; never completes. With "
    "statuses, only changes into one of them."
)


def my_task_events(
    context: Context, statuses: Sequence[TaskStatus] | None
) -> AsyncGenerator[Task, None]:
    """The caller's task events; the caller and `statuses` are checked before any
    stream exists."""
    owner = context.owner
    if statuses is not None and not statuses:
        raise BadUserInput("statuses must name at least one status, or be left out", "statuses")
    if context.listen is None:  # refused before this over HTTP (graph/transport.py)
        raise RuntimeError("subscriptions need a websocket")
    return _events(context, owner, None if statuses is None else frozenset(statuses))


async def _events(
    context: Context, owner: str, statuses: frozenset[TaskStatus] | None
) -> AsyncGenerator[Task, None]:
    assert context.listen is not None
    # Joined before the snapshot is read; closing the stream leaves the group at once.
    watched = context.jobs.watch_owner(owner, context.listen, statuses=statuses)
    async with (
        aclosing(watched) as followed,
        aclosing(with_position_checks(followed, context.jobs)) as records,
    ):
        try:
            async for record in records:
                yield task_from_record(record, context)
        except StoreUnavailable as outage:
            raise unavailable(outage.retry_after) from None
