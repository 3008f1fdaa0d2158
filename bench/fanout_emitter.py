"""Stands in for running tasks in the fan-out benchmark, through the worker's own code path.

Each task is created and started in the task store (`TaskStore.create`,
`TaskStore.start`), fed `Progress(stage="denoising", step=i, total_steps=n)` at
a fixed rate through a `TaskReporter` that publishes with a `ThreadedPublisher`
over a `RedisPubSubChannelLayer` (as project/worker.py builds it), and ended with
`TaskStore.succeed`. No pipeline and no Dramatiq: only the store writes and
events a worker makes.

Tasks are spread over a few threads and their reports staggered over one period,
so the load is even. For every event it records, by (task id, sequence):
  - `emitted`: `time.time()` just before the reporter is called (the moment the
    pipeline reports a step), or before `succeed` for the terminal event;
  - `published`: `time.time()` just before the event is handed to the channel
    layer (after the store write).
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from PIL import Image

from actors.kinds import spec_for
from actors.records import ResultInfo, TaskKind, TaskRecord
from actors.store.tasks import TaskStore
from actors.worker.publisher import ThreadedPublisher
from actors.worker.reporter import TaskReporter
from pipelines.progress import Progress

OWNER = "alice"  # the owner project.localstack.ALICE_KEY maps to
STAGE = "denoising"
Key = tuple[str, int]  # (task id, sequence)


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 80, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Emission:
    """What one `Emitter.run` did; times are `time.time()` on this machine."""

    emitted: dict[Key, float] = field(default_factory=dict)
    published: dict[Key, float] = field(default_factory=dict)
    # How late each report was against its schedule (s): the emitter's own lag.
    late: list[float] = field(default_factory=list)
    terminal: dict[str, int] = field(default_factory=dict)  # task id -> terminal sequence
    started_at: float = 0.0
    ended_at: float = 0.0
    failures: int = 0


class Emitter:
    def __init__(self, redis_url: str, key_prefix: str, channel_prefix: str) -> None:
        self.client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=10, max_connections=64
        )
        # A long lease: nothing renews it here, and no sweeper runs to reap it anyway.
        self.store = TaskStore(self.client, prefix=key_prefix, ttl=120, lease_seconds=3600)
        layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=channel_prefix)
        self.publisher = ThreadedPublisher(layer)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:bench"
        self._png = _tiny_png()

    def start_tasks(self, count: int) -> list[TaskRecord]:
        """`count` tasks created and started, RUNNING under this emitter."""
        running = []
        for _ in range(count):
            kind = TaskKind.IMAGE_GENERATION
            record = TaskRecord(
                id=str(uuid.uuid4()),
                kind=kind,
                owner=OWNER,
                queue=spec_for(kind).queue,
                params={"prompt": "fan-out", "steps": 0},
            )
            record, _ = self.store.create(record, {})
            self.store.dispatched(record.id)
            started = self.store.start(record.id, worker=self.worker)
            if started is None:
                raise RuntimeError(f"task {record.id} could not be started")
            self.publisher.publish(started)
            running.append(started)
        return running

    def run(
        self,
        tasks: list[TaskRecord],
        *,
        steps: int,
        rate: float = 10.0,
        threads: int = 4,
        start_at: float | None = None,
    ) -> Emission:
        """Report `steps` steps per task at `rate` a second, then succeed each task."""
        emission = Emission()
        period = 1.0 / rate
        start = start_at if start_at is not None else time.time() + 0.2
        emission.started_at = start
        lock = threading.Lock()

        def publish(record: TaskRecord) -> None:
            emission.published[(record.id, record.seq)] = time.time()
            self.publisher.publish(record)

        def drive(mine: list[tuple[float, TaskRecord]]) -> None:
            reporters = [(offset, TaskReporter(self.store, publish, task)) for offset, task in mine]
            late: list[float] = []
            failures = 0
            for step in range(1, steps + 1):
                for offset, reporter in reporters:
                    due = start + offset + (step - 1) * period
                    _sleep_until(due)
                    emitted = time.time()
                    late.append(emitted - due)
                    try:
                        reporter(Progress(stage=STAGE, step=step, total_steps=steps))
                    except Exception:
                        failures += 1
                        continue
                    emission.emitted[(reporter.record.id, reporter.record.seq)] = emitted
            for offset, reporter in reporters:
                _sleep_until(start + offset + steps * period)
                emitted = time.time()
                done = self.store.succeed(
                    reporter.record, ResultInfo(width=8, height=8, seed=0), self._png
                )
                if done is None:
                    failures += 1
                    continue
                emission.emitted[(done.id, done.seq)] = emitted
                emission.terminal[done.id] = done.seq
                publish(done)
            with lock:
                emission.late.extend(late)
                emission.failures += failures

        count = max(1, min(threads, len(tasks)))
        slices: list[list[tuple[float, TaskRecord]]] = [[] for _ in range(count)]
        for index, task in enumerate(tasks):
            # Staggered over one period, task k at k/len of it; thread k % count drives it.
            slices[index % count].append((period * index / len(tasks), task))
        workers = [
            threading.Thread(target=drive, args=(mine,), name=f"emitter-{n}", daemon=True)
            for n, mine in enumerate(slices)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        emission.ended_at = time.time()
        return emission

    def close(self) -> None:
        self.publisher.close()
        self.client.close()


def _sleep_until(when: float, clock: Callable[[], float] = time.time) -> None:
    delay = when - clock()
    if delay > 0:
        time.sleep(delay)
