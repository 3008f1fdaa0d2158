"""The job system with each owner's view of all their tasks: `watch_owner`, behind the
`myTasks` subscription."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Collection
from contextlib import AsyncExitStack

from actors.client.jobsystem import JobSystem, Listen
from actors.client.owner_following import follow_owner, unfinished_tasks
from actors.events import owner_group_name
from actors.records import TaskRecord, TaskStatus
from actors.store.outage import StoreUnavailable, outages_raise_unavailable

logger = logging.getLogger(__name__)


class OwnerJobSystem(JobSystem):
    """`JobSystem`, with every change of an owner's tasks to be followed at once.

    Every event goes to its owner's group as well as its task's
    (`actors.events.publish`), and a task just submitted is announced on its owner's
    group (`JobSystem._announce`).
    """

    async def watch_owner(
        self, owner: str, listen: Listen, *, statuses: Collection[TaskStatus] | None = None
    ) -> AsyncGenerator[TaskRecord, None]:
        """The owner's unfinished tasks now, then every change of any of their tasks
        (see `actors.client.owner_following.follow_owner`), those whose status is one
        of `statuses` (all when None); never ends by itself.

        `listen` joins the owner's channel-layer group before the snapshot is read,
        so nothing falls between. Raises `StoreUnavailable` when Redis is out while
        joining or reading the first snapshot; later, an outage only delays events.
        Close the iterator (`contextlib.aclosing`) to leave the group at once.
        """
        async with AsyncExitStack() as stack:
            messages = await self._joined(stack, listen, owner_group_name(owner))
            async for record in follow_owner(
                owner,
                functools.partial(self._owner_tasks, owner),
                messages,
                transient=(StoreUnavailable,),
                nudged=self._comebacks.wait,
            ):
                # Filtered here, after ordering: a task's older state never follows a
                # newer one that was left out.
                if statuses is None or record.status in statuses:
                    yield record

    async def _owner_tasks(self, owner: str, also: Collection[str]) -> list[TaskRecord]:
        # Through the breaker, as every other read of the job system.
        with self._breaker.passage(), outages_raise_unavailable():
            return await asyncio.to_thread(unfinished_tasks, self.store, owner, also)
