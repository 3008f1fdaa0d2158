"""Following every task of one owner for a subscriber (`myTasks`): the owner's
unfinished tasks now, then each change of any of its tasks, each task's in order."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection
from typing import Any, cast

from actors.client.following import _ENDED, _decoded, _Inbox, _jittered
from actors.memo import Recent
from actors.records import TaskRecord, TaskStatus
from actors.store.reads import TaskReader, decode_record

logger = logging.getLogger(__name__)

# Ids read per round trip while looking through an owner's index for unfinished tasks.
INDEX_PAGE = 200
# Ended tasks whose last sequence number a follower keeps: an event of one that was
# delayed in transit behind its end is still recognised as old.
ENDED_KEPT = 1024

# snapshot(ids): the owner's unfinished tasks now, and the records of `ids` (tasks the
# follower holds unfinished) that still exist, ended or not.
Snapshot = Callable[[Collection[str]], Awaitable[list[TaskRecord]]]


async def follow_owner(
    owner: str,
    snapshot: Snapshot,
    messages: AsyncIterable[dict[str, Any]],
    *,
    resync_every: float = 30.0,
    transient: tuple[type[BaseException], ...] = (),
    retry_after: float = 1.0,
    nudged: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIterator[TaskRecord]:
    """The events of every task of `owner`, for a subscriber that has already joined
    the owner's group; never ends by itself.

    Yields the owner's unfinished (QUEUED, RUNNING) tasks first, then every change
    of any of its tasks. Per task, as `actors.client.following.follow` does for one:
    only newer sequence numbers than the last yielded of that task (older and
    duplicate ones are dropped), and its terminal state is the last of it. Records
    of another owner are dropped, whatever reached the listener.

    Every `resync_every` seconds (jittered), and at once when `nudged()` returns
    (Redis back after an outage, in which events were lost), the snapshot is read
    again with the tasks held unfinished: a lost event, an end included, is caught
    up then. A task created, run and ended entirely unseen (its events all lost) is
    not. A re-read failing with one of the `transient` errors is tried again every
    `retry_after` seconds; an error reading the first snapshot is raised as it is.
    """
    known = _Sequences()
    for record in await snapshot(()):
        if record.owner == owner and known.newer(record):
            yield record
    inbox = _Inbox(messages, nudged, _jittered(resync_every), periodic=True)
    outage_since: float | None = None
    try:
        while True:
            item = await inbox.next()
            if item is _ENDED:
                return
            if isinstance(item, dict):
                records = [_decoded(item)]
            else:  # time to resync, or nudged
                try:
                    records = await snapshot(list(known.unfinished))
                except transient as error:
                    if outage_since is None:
                        outage_since = time.monotonic()
                        logger.warning(
                            "tasks of one owner: cannot re-read them (%s); retrying every %.1f s",
                            error,
                            retry_after,
                        )
                    inbox.resync_in(retry_after)
                    continue
                if outage_since is not None:
                    logger.info(
                        "tasks of one owner: readable again after %.1f s",
                        time.monotonic() - outage_since,
                    )
                    outage_since = None
                inbox.resync_in(_jittered(resync_every))
                known.keep_unfinished({record.id for record in records})
            for record in records:
                if record.owner == owner and known.newer(record):
                    yield record
    finally:
        inbox.close()


class _Sequences:
    """The last sequence number yielded of each task: of every unfinished one, and of
    the `ENDED_KEPT` most recently ended."""

    def __init__(self) -> None:
        self.unfinished: dict[str, int] = {}
        self._ended: Recent[str, int] = Recent(ENDED_KEPT)

    def newer(self, record: TaskRecord) -> bool:
        """Whether `record` is newer than anything yielded of its task; if so it is
        now the last yielded."""
        last = self._ended.get(record.id)
        if last is None:
            last = self.unfinished.get(record.id)
        if last is not None and record.seq <= last:
            return False
        if record.status.terminal:
            self.unfinished.pop(record.id, None)
            self._ended.put(record.id, record.seq)
        else:
            self.unfinished[record.id] = record.seq
        return True

    def keep_unfinished(self, existing: Collection[str]) -> None:
        """Forget the unfinished tasks not among `existing` (gone from the store)."""
        for task_id in [t for t in self.unfinished if t not in existing]:
            del self.unfinished[task_id]


def unfinished_tasks(
    reader: TaskReader, owner: str, also: Collection[str] = ()
) -> list[TaskRecord]:
    """The owner's QUEUED and RUNNING tasks, oldest first, then the records of the tasks
    `also` names that still exist (ended or not), each task once.

    The owner's index is read newest first, a status per task, until as many
    unfinished tasks were found as the owner's live count says there are (or the
    index ends): unfinished tasks are mostly the newest, so this is usually one page.
    """
    client = reader.client
    expected = int(cast(bytes | None, client.get(reader.live_key(owner))) or 0)
    index = reader.owner_key(owner)
    found: list[str] = []  # newest first
    start = 0
    while len(found) < expected:
        newest = cast(list[bytes], client.zrevrange(index, start, start + INDEX_PAGE - 1))
        page = [raw.decode() for raw in newest]
        if not page:
            break
        with client.pipeline(transaction=False) as pipe:
            for task_id in page:
                pipe.hget(reader.key(task_id), "status")
            statuses = pipe.execute()
        found += [
            task_id
            for task_id, status in zip(page, statuses, strict=True)
            if status is not None and not TaskStatus(status.decode()).terminal
        ]
        start += INDEX_PAGE
    ids = list(dict.fromkeys([*reversed(found), *also]))
    if not ids:
        return []
    with client.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hgetall(reader.key(task_id))
        raws = pipe.execute()
    records = (decode_record(raw) for raw in raws)
    return [record for record in records if record is not None and record.owner == owner]
