"""The operators' view of the last minutes: failures by code and throughput."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import strawberry

from actors.interface import (
    MAX_RECENT_MINUTES,
    MinuteCounts,
    TaskErrorCode,
    TaskKind,
    TaskStatus,
    code_of,
)
from graph.errors import BadUserInput

DEFAULT_MINUTES = 15
MINUTES = f"The last minutes to count, 1 to {MAX_RECENT_MINUTES}; the current one included."


@strawberry.type(description="Tasks of one kind that failed with one error code.")
class FailureCount:
    code: str
    kind: TaskKind
    count: int
    reason: TaskErrorCode | None = strawberry.field(
        description="`code` as an enum (see TaskError.reason); null for one this server "
        "version does not know."
    )


@strawberry.type(description="Tasks that ended in one minute, by how they ended.")
class MinuteThroughput:
    minute: datetime = strawberry.field(description="The minute's start (UTC).")
    succeeded: int
    failed: int
    cancelled: int


def check_minutes(minutes: int) -> int:
    if not 1 <= minutes <= MAX_RECENT_MINUTES:
        raise BadUserInput(f"minutes must be from 1 to {MAX_RECENT_MINUTES}", "minutes")
    return minutes


def failures(recent: Sequence[MinuteCounts]) -> list[FailureCount]:
    """Failures over the minutes by code and kind, the most frequent first."""
    total: Counter[tuple[str, TaskKind]] = Counter()
    for minute in recent:
        for (kind, code), count in minute.counts.failed.items():
            total[code, kind] += count
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0][0], item[0][1].value))
    return [
        FailureCount(code=code, kind=kind, count=n, reason=code_of(code))
        for (code, kind), n in ranked
    ]


def throughput(recent: Sequence[MinuteCounts]) -> list[MinuteThroughput]:
    """Each minute, oldest first, with its ends over every kind."""
    return [
        MinuteThroughput(
            minute=minute.start,
            succeeded=_ended(minute, TaskStatus.SUCCEEDED),
            failed=_ended(minute, TaskStatus.FAILED),
            cancelled=_ended(minute, TaskStatus.CANCELLED),
        )
        for minute in recent
    ]


def _ended(minute: MinuteCounts, status: TaskStatus) -> int:
    return sum(n for (_, ended), n in minute.counts.finished.items() if ended is status)
