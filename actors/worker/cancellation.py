"""Why a run stops before its pipeline ends, besides a failure: each reason is a
`pipelines.errors.Cancelled`, raised from the progress callback at the pipeline's next
step, and the runner writes the outcome that reason calls for. A cancel the owner
asked for is `Cancelled` itself: the task ends CANCELLED."""

from __future__ import annotations

from pipelines.errors import Cancelled


class Superseded(Cancelled):
    """This run no longer holds the task: its lease lapsed and the task was requeued,
    taken over or ended elsewhere. Nothing more may be written for it."""


class Interrupted(Cancelled):
    """The worker is shutting down and the task's grace period is over."""


def keep_going() -> Cancelled | None:
    return None
