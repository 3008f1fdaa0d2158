"""What can be read of the task store: records, results, previews, inputs, an owner's
tasks, a task's place in its queue, the task counts. Reads change nothing, save
pruning an owner's index of ids whose records expired."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import redis

from actors.records import TaskRecord, TaskStatus, from_hash
from actors.store.counts import TaskCounts
from actors.store.keys import KeyLayout

# Where a task stands in its owner's list: (creation time in microseconds, id).
OwnerPosition = tuple[int, str]


class TaskReader(KeyLayout):
    """Reads of the task store at `client` under `prefix`."""

    def __init__(self, client: redis.Redis, *, prefix: str = "atelier:") -> None:
        super().__init__(prefix)
        self.client = client

    def get(self, task_id: str) -> TaskRecord | None:
        return decode_record(cast(dict[bytes, bytes], self.client.hgetall(self.key(task_id))))

    def get_many(self, task_ids: Iterable[str]) -> list[TaskRecord]:
        """The records of those of `task_ids` that exist, in order, in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hgetall(self.key(task_id))
            found = [decode_record(raw) for raw in pipe.execute()]
        return [record for record in found if record is not None]

    def result_png(self, task_id: str, index: int = 0) -> bytes | None:
        """The result's image `index` (0: the first); None past its last, or once gone."""
        if index == 0:
            return self._bytes(self.key(task_id, "result"))
        if index < 0:
            return None
        return cast(bytes | None, self.client.hget(self.key(task_id, "results"), str(index)))

    def preview_png(self, task_id: str) -> bytes | None:
        return self._bytes(self.key(task_id, "preview"))

    def input_bytes(self, task_id: str, name: str) -> bytes | None:
        return self._bytes(self.key(task_id, f"input:{name}"))

    def _bytes(self, key: str) -> bytes | None:
        return cast(bytes | None, self.client.get(key))

    def queue_position(self, record: TaskRecord) -> int | None:
        """1 = next to start; None unless QUEUED. O(log n)."""
        if record.status is not TaskStatus.QUEUED:
            return None
        rank = cast(int | None, self.client.zrank(self.queue_key(record.queue), record.id))
        return None if rank is None else rank + 1

    def list_for_owner(
        self, owner: str, *, status: TaskStatus | None = None, limit: int = 20
    ) -> list[TaskRecord]:
        """The owner's tasks, newest first; ids whose records expired are pruned."""
        return [record for _, record in self.owner_page(owner, status=status, limit=limit)[0]]

    def owner_page(
        self,
        owner: str,
        *,
        status: TaskStatus | None = None,
        limit: int = 20,
        after: OwnerPosition | None = None,
    ) -> tuple[list[tuple[OwnerPosition, TaskRecord]], bool]:
        """Up to `limit` of the owner's tasks newest first, each with its position,
        from just after `after` (a position an earlier page gave); and whether more
        follow. A position stays valid while tasks come and go: pages neither skip nor
        repeat a task. Ids whose records expired are pruned."""
        key = self.owner_key(owner)
        top: float | str = "+inf" if after is None else after[0]
        found: list[tuple[OwnerPosition, TaskRecord]] = []
        start, batch = 0, max(limit + 1, 20)
        while len(found) <= limit:
            entries = cast(
                list[tuple[bytes, float]],
                self.client.zrevrangebyscore(
                    key, top, "-inf", start=start, num=batch, withscores=True
                ),
            )
            if not entries:
                break
            start += len(entries)
            # Creation times (microseconds) can tie: ties go by id, as Redis orders them.
            positions = [(int(score), member.decode()) for member, score in entries]
            if after is not None:
                positions = [p for p in positions if p[0] < after[0] or p[1] < after[1]]
            with self.client.pipeline(transaction=False) as pipe:
                for _, task_id in positions:
                    pipe.hgetall(self.key(task_id))
                raws = pipe.execute()
            gone = [task_id for (_, task_id), raw in zip(positions, raws, strict=True) if not raw]
            if gone:
                self.client.zrem(key, *gone)
                start -= len(gone)
            for position, raw in zip(positions, raws, strict=True):
                record = decode_record(raw)
                if record and (status is None or record.status is status):
                    found.append((position, record))
        return found[:limit], len(found) > limit

    def find_idempotent(self, owner: str, key: str) -> TaskRecord | None:
        """The live-or-kept task this owner submitted under `key`, if any."""
        task_id = cast(bytes | None, self.client.get(self.idempotency_key(owner, key)))
        return self.get(task_id.decode()) if task_id else None

    def lapsed_leases(self, limit: int = 100) -> list[str]:
        """Ids of RUNNING tasks whose lease ran out (by Redis's clock)."""
        return self._due(self.leases_key, limit)

    def due_dispatches(self, limit: int = 100) -> list[str]:
        """Ids of tasks whose message may never have been sent, past their grace."""
        return self._due(self.undispatched_key, limit)

    def past_deadlines(self, limit: int = 100) -> list[str]:
        """Ids of unfinished tasks whose deadline passed (by Redis's clock)."""
        return self._due(self.deadlines_key, limit)

    def _due(self, key: str, limit: int) -> list[str]:
        seconds, micros = cast(tuple[int, int], self.client.time())
        now_ms = seconds * 1000 + micros // 1000
        ids = cast(list[bytes], self.client.zrangebyscore(key, "-inf", now_ms, start=0, num=limit))
        return [task_id.decode() for task_id in ids]

    def counts(self) -> TaskCounts:
        return TaskCounts.from_hash(cast(dict[bytes, bytes], self.client.hgetall(self.counts_key)))

    def ping(self) -> bool:
        return bool(self.client.ping())


def decode_record(raw: Iterable[bytes] | dict[bytes, bytes] | None) -> TaskRecord | None:
    if not raw:
        return None
    if isinstance(raw, dict):
        return from_hash({k.decode(): v.decode() for k, v in raw.items()})
    items = list(raw)
    return from_hash({items[i].decode(): items[i + 1].decode() for i in range(0, len(items), 2)})
