"""A waiting task's subscribers hear when its place in the queue moves.

Nothing about a QUEUED task changes while the tasks ahead of it start, so nothing
would be published; while the task a subscription follows is QUEUED, its web node asks
once a second whether its position moved (`Jobs.tell_position`: one ZRANK). When it
did, the record's sequence is bumped and the task published as any change is, so the
event reaches every subscriber of the task, on any web node, once, with its new
`queuePosition` and estimates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from actors.interface import Jobs, TaskRecord, TaskStatus

EVERY = 1.0  # seconds between looks at a waiting task's position


async def with_position_checks(
    records: AsyncIterator[TaskRecord], jobs: Jobs, every: float = EVERY
) -> AsyncGenerator[TaskRecord, None]:
    """`records`, unchanged, with a position check every `every` seconds while the
    latest of them is QUEUED (its outcome arrives in `records`, as an event)."""
    latest: TaskRecord | None = None

    async def look() -> None:
        while True:
            await asyncio.sleep(every)
            if latest is not None and latest.status is TaskStatus.QUEUED:
                with contextlib.suppress(Exception):  # the next look, or the next event
                    await jobs.tell_position(latest)

    looking = asyncio.create_task(look())
    try:
        async for record in records:
            latest = record
            yield record
    finally:
        looking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await looking
