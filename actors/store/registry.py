"""The worker registry: which worker processes are alive, and what each holds and runs.

Every worker process announces itself every few seconds (see actors.worker.presence);
a worker not heard from for `stale_after` seconds counts as gone, and its entry
disappears by itself, so a killed worker needs nobody to clean up after it.

Layout (the task store's prefix, `atelier:` by default):
  workers              sorted set: worker id -> last announcement (ms, Redis clock)
  worker:<id>          hash: the worker as it last described itself (`WorkerInfo`),
                       expiring `stale_after` seconds after that announcement

Reads cost O(number of workers): one script over the sorted set, which drops
members past the window, then one hash per live worker.

A full Redis (maxmemory, `noeviction`) still takes announcements (see ANNOUNCE),
so the web's readiness check keeps seeing live workers through it.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import cast

import redis
import redis.asyncio

from actors.records import TaskKind
from actors.store import scripts
from actors.store.outage import Script

# KEYS and ARGV of each script: at the top of its file in actors/store/lua/.
ANNOUNCE = scripts.load("workers_announce", library="workers_library")
LIVE = scripts.load("workers_live", library="workers_library")
COUNT = scripts.load("workers_count", library="workers_library")


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A pipeline held warm in a worker's pipeline cache."""

    kind: TaskKind
    name: str

    @classmethod
    def from_cache_key(cls, key: Hashable) -> LoadedModel | None:
        """The model a pipeline cache key names ((kind, name), see actors.worker.runner)."""
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], TaskKind):
            return cls(kind=key[0], name=str(key[1]))
        return None


@dataclass(frozen=True, slots=True)
class CurrentTask:
    """A task a worker is running now, in a pipeline call of `call_size` tasks (more
    than one when batched: the call takes about that many tasks' time)."""

    id: str
    kind: TaskKind
    call_size: int = 1


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process as it describes itself; the times are Redis's clock."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...] = ()
    models: tuple[LoadedModel, ...] = ()
    tasks: tuple[CurrentTask, ...] = ()
    # Shutting down: takes no new tasks, finishes (or hands back) the running one.
    stopping: bool = False
    started_at: datetime | None = field(default=None, compare=False)
    last_seen_at: datetime | None = field(default=None, compare=False)


def to_hash(worker: WorkerInfo) -> dict[str, str]:
    """The fields a worker writes about itself (the times are written by Redis)."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": str(worker.pid),
        "queues": json.dumps(list(worker.queues)),
        "models": json.dumps([{"kind": m.kind.value, "name": m.name} for m in worker.models]),
        "tasks": json.dumps(
            [{"id": t.id, "kind": t.kind.value, "call": t.call_size} for t in worker.tasks]
        ),
        "stopping": "1" if worker.stopping else "0",
    }


def from_hash(raw: Mapping[str, str], last_seen_ms: int) -> WorkerInfo:
    return WorkerInfo(
        id=raw["id"],
        host=raw["host"],
        pid=int(raw["pid"]),
        queues=tuple(json.loads(raw["queues"])),
        models=tuple(
            LoadedModel(kind=TaskKind(m["kind"]), name=m["name"]) for m in json.loads(raw["models"])
        ),
        tasks=tuple(
            # "call" is missing from an older worker's entry: one task a call.
            CurrentTask(id=t["id"], kind=TaskKind(t["kind"]), call_size=int(t.get("call", 1)))
            for t in json.loads(raw["tasks"])
        ),
        stopping=raw.get("stopping") == "1",
        started_at=_from_ms(int(raw["started"])),
        last_seen_at=_from_ms(last_seen_ms),
    )


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def workers_key(prefix: str) -> str:
    return f"{prefix}workers"


class WorkerRegistry:
    """The worker registry in Redis (see the module): announce, withdraw, list, count."""

    def __init__(self, client: redis.Redis, *, prefix: str, stale_after: float) -> None:
        self.client = client
        self.prefix = prefix
        self.stale_ms = max(1, int(stale_after * 1000))
        self._announce = Script(client, ANNOUNCE)
        self._live = Script(client, LIVE)
        self._count = Script(client, COUNT)

    @property
    def key(self) -> str:
        return workers_key(self.prefix)

    def worker_key(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def announce(self, worker: WorkerInfo) -> WorkerInfo:
        """Record `worker` as alive now; returns it with its times as Redis has them.

        The first announcement sets when the worker started; later ones keep it, even
        after the entry lapsed meanwhile (a Redis outage), because it comes back here.
        """
        started = "" if worker.started_at is None else _ms(worker.started_at)
        flat = [item for pair in to_hash(worker).items() for item in pair]
        raw = self._announce(
            keys=[self.key, self.worker_key(worker.id)],
            args=[worker.id, self.stale_ms, started, *flat],
        )
        return replace(worker, started_at=_from_ms(int(raw)))

    def withdraw(self, worker_id: str) -> None:
        """The worker stopped cleanly: gone from the registry at once."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(self.key, worker_id)
            pipe.delete(self.worker_key(worker_id))
            pipe.execute()

    def live(self) -> list[WorkerInfo]:
        """Workers heard from within the window, longest-silent first."""
        raw = cast(list[bytes], self._live(keys=[self.key], args=[self.stale_ms]))
        seen = [(raw[i].decode(), int(float(raw[i + 1]))) for i in range(0, len(raw), 2)]
        if not seen:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for worker_id, _ in seen:
                pipe.hgetall(self.worker_key(worker_id))
            hashes = cast(list[dict[bytes, bytes]], pipe.execute())
        workers = []
        for (_, last_seen), fields in zip(seen, hashes, strict=True):
            if fields:  # else it lapsed between the two reads
                decoded = {k.decode(): v.decode() for k, v in fields.items()}
                workers.append(from_hash(decoded, last_seen))
        return workers

    def count(self) -> int:
        """How many workers were heard from within the window."""
        return int(cast(int, self._count(keys=[self.key], args=[self.stale_ms])))


async def count_live(client: redis.asyncio.Redis, *, prefix: str, stale_after: float) -> int:
    """`WorkerRegistry.count` for an asyncio client (the web's readiness probe)."""
    stale_ms = max(1, int(stale_after * 1000))
    return int(await client.eval(COUNT, 1, workers_key(prefix), stale_ms))


def _ms(moment: datetime) -> str:
    return str(round(moment.timestamp() * 1000))
