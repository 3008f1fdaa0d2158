"""Admission as the task store decides it, in the same step as a new task's record
(lua/task_create.lua, after lua/admission_library.lua): what it is decided on, and
its refusal. Who sets the limits and names the keys: `actors.client.admission`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Refused(Exception):
    """A submission turned away; `retry_after` says when trying again may succeed."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Gate(NamedTuple):
    """Admission of `count` tasks, decided with the first of them recorded."""

    bucket: str  # the owner's token bucket
    queues: Sequence[str]  # every queue's waiting set: the queue limit counts them all
    # lua/admission_library.lua's block: now_ms, rate per s, burst, max unfinished,
    # max queued, count.
    terms: Sequence[float | int]


# The create script's admission block when it decides no admission.
NO_TERMS = ("",) * 6
