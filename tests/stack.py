"""Real processes for end-to-end tests: project.localstack's Stack, whose workers load
the test hook `tests.stepgate` so that a test can hold a task at a step and release it.

Each stack gets its own key prefix, broker namespace and channel prefix, so several
stacks (and a developer's own `make run`) can share one Redis.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from project import localstack
from project.localstack import ALICE_KEY, BIN, BOB_KEY, OPS_KEY, ROOT, WORKER_READY, Process
from tests import stepgate

__all__ = [
    "ALICE_KEY",
    "BIN",
    "BOB_KEY",
    "OPS_KEY",
    "ROOT",
    "WORKER_READY",
    "Process",
    "Stack",
    "running_stack",
]


@dataclass
class Stack(localstack.Stack):
    worker_modules: tuple[str, ...] = ("tests.stepgate",)

    def settings(self) -> dict[str, str]:
        # Tasks marked with tests.stepgate.HOLD wait at a step until `release`.
        return {**super().settings(), stepgate.ENV: str(self.gate)}

    @property
    def gate(self) -> Path:
        """Where `release` leaves word for the worker (see `tests.stepgate`)."""
        return self.folder / "gate"

    def release(self, task_id: str) -> None:
        """Lets a task held at its step `tests.stepgate.HOLD_AT` go on."""
        self.gate.mkdir(parents=True, exist_ok=True)
        (self.gate / task_id).touch()


@contextmanager
def running_stack(
    redis_url: str, folder: Path, model_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """A web node and one worker ready for tasks, stopped on exit; their logs printed
    if starting fails."""
    with Stack(redis_url, folder, model_dir, dict(extra_env or {})).running() as stack:
        yield stack
