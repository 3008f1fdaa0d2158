"""Which task a log record belongs to: set while a task runs, read by the log formatter.

A context variable, so each thread and asyncio task sees its own: a worker thread
running a task, and the threads it starts for that task through `carried`, log with
its id; a thread sweeping or publishing for the whole worker logs without one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

current_task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "atelier_task_id", default=None
)

_P = ParamSpec("_P")
_T = TypeVar("_T")


@contextmanager
def task_context(task_id: str) -> Iterator[None]:
    """Log records made inside the block carry `task_id`."""
    token = current_task_id.set(task_id)
    try:
        yield
    finally:
        current_task_id.reset(token)


def carried(target: Callable[_P, _T]) -> Callable[_P, _T]:
    """`target` bound to the current context (the task's), to run on another thread:
    a new thread otherwise starts with an empty one."""
    context = contextvars.copy_context()

    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return context.run(target, *args, **kwargs)

    return run
