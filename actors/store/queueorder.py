"""Reading a queue's order (written by actors/store/lua/task_library.lua): how many tasks
wait at each priority, and where each owner stands in fair share's rotation.

A waiting task's score is band * 2^51 + round * 2^26 + ticket; the `:order` hash beside
the queue holds each band's current round (`v<band>`) and each owner's next round in it
(`o<band>:<owner>`). An owner whose next round is r rounds past the current one has about
r tasks waiting in that band, each a turn behind the other owners' next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.records import TaskPriority

# As in task_library.lua.
BAND_SPAN = 2**51
BANDS = (TaskPriority.HIGH, TaskPriority.NORMAL, TaskPriority.LOW)


@dataclass(frozen=True, slots=True)
class OwnerTurn:
    """Where an owner with tasks waiting stands in one priority's rotation."""

    owner: str
    priority: TaskPriority
    rounds_ahead: int  # its next task's round minus the round being served now


def count_by_priority(pipe: Any, queue_key: str) -> None:
    """Queues on `pipe` one ZCOUNT per priority (their replies: `BANDS` order)."""
    for band in range(len(BANDS)):
        pipe.zcount(queue_key, band * BAND_SPAN, f"({(band + 1) * BAND_SPAN}")


def owner_turns(order: dict[bytes, bytes]) -> list[OwnerTurn]:
    """The `:order` hash read back (HGETALL) as each owner's standing, furthest first."""
    fields = {name.decode(): int(value) for name, value in order.items()}
    turns = []
    for name, next_round in fields.items():
        if not name.startswith("o"):
            continue
        band, _, owner = name[1:].partition(":")
        ahead = next_round - fields.get(f"v{band}", 0)
        if band.isdigit() and int(band) < len(BANDS) and ahead > 0:
            turns.append(OwnerTurn(owner, BANDS[int(band)], ahead))
    return sorted(turns, key=lambda turn: (BANDS.index(turn.priority), -turn.rounds_ahead))
