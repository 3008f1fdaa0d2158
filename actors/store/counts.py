"""How many tasks were submitted and ended, by kind, status and error code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from actors.records import TaskKind, TaskStatus


@dataclass(frozen=True, slots=True)
class TaskCounts:
    """Tasks created and ended since the counts began, over every web node and worker.

    Counted inside the scripts that create and end a task (hash fields
    `submitted:<kind>`, `finished:<kind>:<status>`, `failed:<kind>:<error code>`),
    so each task is counted once, however many processes saw it.
    """

    submitted: dict[TaskKind, int] = field(default_factory=dict)
    finished: dict[tuple[TaskKind, TaskStatus], int] = field(default_factory=dict)
    failed: dict[tuple[TaskKind, str], int] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> TaskCounts:
        submitted: dict[TaskKind, int] = {}
        finished: dict[tuple[TaskKind, TaskStatus], int] = {}
        failed: dict[tuple[TaskKind, str], int] = {}
        for name, value in raw.items():
            what, _, rest = name.decode().partition(":")
            kind, _, detail = rest.partition(":")
            if kind not in TaskKind.__members__:
                continue  # written by newer code
            if what == "submitted":
                submitted[TaskKind(kind)] = int(value)
            elif what == "finished" and detail in TaskStatus.__members__:
                finished[TaskKind(kind), TaskStatus(detail)] = int(value)
            elif what == "failed":
                failed[TaskKind(kind), detail] = int(value)
        return cls(submitted, finished, failed)
