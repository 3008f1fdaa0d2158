"""The operators' view, live (`operationsUpdates`), and an operator's cancel of any
caller's task (`cancelAnyTask`); admin keys only, like `Query.operations`.

The subscription does not follow the channel layer: the view is made of counts,
leases and worker announcements, most of which publish nothing. It looks instead:
every `EVERY` seconds it reads what the view shows and sends a new `Operations`
when that changed, or when `HEARTBEAT` seconds passed without one (so a client
tells a quiet deployment from a lost connection). An idle page costs one look a
second, and a busy deployment at most one update a second per subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing

from actors.interface import Jobs, StoreUnavailable, TaskRecord
from graph.auth import Operators
from graph.context import Context
from graph.errors import Forbidden, NotFound, unavailable
from graph.operations import Operations

EVERY = 1.0  # seconds between looks, and so at least between two updates
HEARTBEAT = 5.0  # seconds at most between two updates, changed or not

DESCRIPTION = (
    "The operators' view now, then again each time it changes, at most about once a "
    f"second, and at least every {HEARTBEAT:g} seconds; never completes. Admin keys only: "
    "any other caller gets the error FORBIDDEN."
)
CANCEL_ANY_TASK = (
    "cancelTask for an operator: any caller's task, cancelled as its owner would. Admin "
    "keys only: any other caller gets the error FORBIDDEN."
)

logger = logging.getLogger("atelier.graph")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


async def throttled(
    look: Callable[[], Awaitable[object]],
    *,
    every: float = EVERY,
    heartbeat: float = HEARTBEAT,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> AsyncGenerator[None, None]:
    """A tick at once, then one after each `every` seconds in which what `look` returns
    changed, or once `heartbeat` seconds passed since the last tick."""
    seen = await look()
    yield
    ticked = clock()
    while True:
        await sleep(every)
        now = await look()
        if now != seen or clock() - ticked >= heartbeat:
            seen = now
            yield
            ticked = clock()


def operations_updates(context: Context, operators: Operators) -> AsyncGenerator[Operations, None]:
    """The caller is checked here, before any stream exists."""
    _check_operator(context, operators, "the operators' view needs an admin key")
    if context.listen is None:  # refused before this over HTTP (graph/transport.py)
        raise RuntimeError("subscriptions need a websocket")
    return _updates(context.jobs, context.limits.max_running_listed)


async def _updates(jobs: Jobs, running_listed: int) -> AsyncGenerator[Operations, None]:
    async def look() -> object:
        # What the view's fields show, at its widest: a change to any of it shows here.
        return (
            await jobs.queue_depths(),
            await jobs.running_tasks(running_listed),
            await jobs.workers(),
            await jobs.recent_counts(1),  # every end lands in the current minute
        )

    async with aclosing(throttled(look)) as ticks:
        try:
            async for _ in ticks:
                yield Operations()  # its fields read the job system as it resolves them
        except StoreUnavailable as outage:
            raise unavailable(outage.retry_after) from None


async def cancel_any_task(context: Context, operators: Operators, task_id: str) -> TaskRecord:
    """The job system's cancel on behalf of the task's owner."""
    operator = _check_operator(context, operators, "cancelling any task needs an admin key")
    owner = await context.jobs.owner_of(task_id)
    record = None if owner is None else await context.jobs.cancel(owner, task_id)
    if owner is None or record is None:
        raise NotFound(f"no task {task_id}")
    logger.info("operator %s cancelled task %s of %s", operator, task_id, owner)
    return record


def _check_operator(context: Context, operators: Operators, refusal: str) -> str:
    caller = context.owner  # UNAUTHENTICATED comes first
    if not operators.admit(caller):
        raise Forbidden(refusal)
    return caller
