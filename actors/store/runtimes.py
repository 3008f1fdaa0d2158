"""How long tasks take, per kind and model: moving averages in Redis that every worker
adds to as its tasks succeed, and that web nodes read for estimates (actors.client.eta).

A task's seconds are taken as base + steps x per_step (loading inputs, encoding the
result, then each denoising step), fitted by least squares over exponentially weighted
moments of (steps, seconds), so a mix of step counts is priced each at its own. With
one step count only, the time is shared out per step; kinds without steps keep a
mean per task.

Layout: `runtimes` hash, fields `<kind>|<model>|x`, `|y`, `|xx`, `|xy` (the moments)
and `|runs`. One small hash per deployment, the measure of its hardware: every run
renews its TTL, so it goes only after `KEEP_SECONDS` without a task.
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
    """Seconds a task of one kind and model takes: `base` plus `per_step` a step; and
    `mean`, what recent tasks took (whatever their steps)."""

    base: float
    per_step: float
    runs: int
    mean: float = 0.0

    def seconds(self, steps: int | None) -> float:
        """A task of `steps` steps (None or 0: a kind without steps)."""
        return self.base + (steps or 0) * self.per_step

    @classmethod
    def fitted(cls, moments: dict[str, float]) -> RunTime:
        mean_x, mean_y = moments.get("x", 0.0), moments.get("y", 0.0)
        variance = moments.get("xx", 0.0) - mean_x**2
        runs = int(moments.get("runs", 0))
        if mean_x <= 0:
            return cls(mean_y, 0.0, runs, mean_y)
        if variance <= _SAME_STEPS * mean_x**2:  # one step count: all of it per step
            return cls(0.0, mean_y / mean_x, runs, mean_y)
        per_step = max(0.0, (moments.get("xy", 0.0) - mean_x * mean_y) / variance)
        base = mean_y - per_step * mean_x
        if base < 0:  # more than proportional: price it per step alone
            return cls(0.0, mean_y / mean_x, runs, mean_y)
        return cls(base, per_step, runs, mean_y)


# Below this relative variance the step counts seen are taken as one.
_SAME_STEPS = 1e-3


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
        return {
            (TaskKind(kind), model): RunTime.fitted(moments)
            for (kind, model), moments in values.items()
            if kind in TaskKind.__members__ and "y" in moments
        }


def _field(kind: TaskKind, model: str) -> str:
    return f"{kind.value}|{model}"
