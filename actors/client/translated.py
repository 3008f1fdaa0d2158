"""The job system's calls as callers see them: a Redis outage is `StoreUnavailable`, and
every call passes through the system's circuit breaker (see actors.store.outage)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from actors.store.outage import Breaker, outages_raise_unavailable


class _Guarded(Protocol):
    _breaker: Breaker


_inside: ContextVar[bool] = ContextVar("atelier_job_system_call", default=False)
_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S", bound=_Guarded)


def translated(
    method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _T]]:
    """Outages become `StoreUnavailable`, and pass through the job system's breaker."""

    @functools.wraps(method)
    async def wrapper(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if _inside.get():  # a call within a call (cancel reads the task first)
            return await method(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            with self._breaker.passage(), outages_raise_unavailable():
                return await method(self, *args, **kwargs)
        finally:
            _inside.reset(token)

    return wrapper
