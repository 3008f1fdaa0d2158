"""How long tasks take, per kind and model: moving averages in Redis that every worker
adds to as its tasks succeed, and that web nodes read for estimates (actors.client.eta).

Layout: `runtimes` hash, fields `<kind>|<model>|task` (seconds per task),
`<kind>|<model>|step` (seconds per denoising step, for kinds with steps) and
`<kind>|<model>|runs`. One small hash per deployment, the measure of its hardware:
every run renews its TTL, so it goes only after `KEEP_SECONDS` without a task (as
every key of the store does, it does not outlive its use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from actors.records import TaskKind
from actors.store import scripts
from actors.store.outage import Script

# The newest run's weight in the averages: about the last ten runs count.
WEIGHT = 0.2
KEEP_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RunTime:
    """Seconds a task of one kind and model takes: per step (None for kinds without
    steps, or none measured) and per task."""

    task_seconds: float
    step_seconds: float | None
    runs: int

    def seconds(self, steps: int | None) -> float:
        """A task of `steps` steps (None: not known, or none)."""
        if steps and self.step_seconds is not None:
            return steps * self.step_seconds
        return self.task_seconds


class RunTimes:
    def __init__(self, client: redis.Redis, *, prefix: str = "atelier:") -> None:
        self.client = client
        self.key = f"{prefix}runtimes"
        self._record = Script(client, scripts.RUNTIMES_RECORD)

    def record(self, kind: TaskKind, model: str, steps: int, seconds: float) -> None:
        """A task of `kind` on `model` succeeded after `seconds`, running `steps` steps."""
        args = [_field(kind, model), steps, seconds, WEIGHT, KEEP_SECONDS]
        self._record(keys=[self.key], args=args)

    def read(self) -> dict[tuple[TaskKind, str], RunTime]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(self.key))
        values: dict[tuple[str, str], dict[str, float]] = {}
        for name, value in raw.items():
            kind, _, rest = name.decode().partition("|")
            model, _, measure = rest.rpartition("|")
            values.setdefault((kind, model), {})[measure] = float(value)
        times = {}
        for (kind, model), measures in values.items():
            if kind in TaskKind.__members__ and "task" in measures:
                times[TaskKind(kind), model] = RunTime(
                    measures["task"], measures.get("step"), int(measures.get("runs", 0))
                )
        return times


def _field(kind: TaskKind, model: str) -> str:
    return f"{kind.value}|{model}"
