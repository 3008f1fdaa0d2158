"""A waiting task's subscribers hear when its place in the queue moves.

Nothing about a QUEUED task changes while the tasks ahead of it start, so nothing
would be published. While a task a subscription follows (`taskProgress`'s one, or
`myTasks`'s) is QUEUED, its web node asks once a second whether its position moved
(`Jobs.tell_position`: one ZRANK). When it did, the record's sequence is bumped and
the task published as any change is, so the event reaches every subscriber of the
task, on any web node, once, with its new `queuePosition` and estimates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from actors.interface import Jobs, TaskRecord, TaskStatus

EVERY = 1.0  # seconds between looks at a waiting task's position
# Waiting tasks one subscription looks at each time (`myTasks` follows many; an owner
# has at most ATELIER_MAX_UNFINISHED_PER_KEY unfinished tasks anyway).
MOST = 100


async def with_position_checks(
    records: AsyncIterator[TaskRecord], jobs: Jobs, every: float = EVERY
) -> AsyncGenerator[TaskRecord, None]:
    """`records`, unchanged, with a position check every `every` seconds of each task
    whose latest record among them is QUEUED (the outcome arrives in `records`, as an
    event)."""
    waiting: dict[str, TaskRecord] = {}

    async def look() -> None:
        while True:
            await asyncio.sleep(every)
            for record in list(waiting.values())[:MOST]:
                with contextlib.suppress(Exception):  # the next look, or the next event
                    await jobs.tell_position(record)

    looking = asyncio.create_task(look())
    try:
        async for record in records:
            if record.status is TaskStatus.QUEUED:
                waiting[record.id] = record
            else:
                waiting.pop(record.id, None)
            yield record
    finally:
        looking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await looking
