"""One execution per subscription event per web process, shared by its subscribers.

Twenty clients following one task receive the same events, and usually with the
same document and variables (one frontend, one fragment). Executing the selection
set once per event per subscriber made GraphQL execution the largest part of a web
node's fan-out cost (see bench/fanout.py); here the first subscriber's execution
of an event serves every other subscriber whose request is the same.

"The same" means same document text, operation name, variables, caller and public
base URL (links in the result are built from it), and the same task at the same
sequence number: a task's sequence number changes with every change to it, so an
event's result is a function of these. The one field that changes without a new
sequence number, `queuePosition`, is only non-null for QUEUED tasks, whose events
are not shared.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Hashable
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from actors.interface import Recent, TaskStatus
from graph.types import Task

# Events in flight across the process: each entry is reused within milliseconds by
# the other subscribers of its task, so a small bound holds every live one.
MAX_SHARED_EVENTS = 4096


RESULTS: Recent[Hashable, Any] = Recent(MAX_SHARED_EVENTS)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing subscription events' results (see the module)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._shared_key()
        if key is None:
            return super().execute_operation(serially)
        shared = RESULTS.get(key)
        if shared is None:
            shared = super().execute_operation(serially)
            if self.is_awaitable(shared):
                shared = asyncio.ensure_future(shared)
            RESULTS.put(key, shared)
        # A subscriber that leaves while the shared execution runs must not cancel it
        # for the others.
        return asyncio.shield(shared) if isinstance(shared, asyncio.Future) else shared

    def build_per_event_executor(self, payload: Any) -> Any:
        # What the subscription's events share, worked out once: the copy carries it.
        _ = self.request_key
        return super().build_per_event_executor(payload)

    def _shared_key(self) -> Hashable | None:
        event = self.root_value
        if not isinstance(event, Task) or event.status is TaskStatus.QUEUED:
            return None
        request = self.request_key
        if request is None:
            return None
        return (request, str(event.id), event.sequence)

    @functools.cached_property
    def request_key(self) -> Hashable | None:
        """What subscribers must have in common to share an event's result; None when
        this request's events are not shared."""
        location = self.operation.loc
        if location is None:
            return None
        context = self.context_value
        try:
            variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        return (
            location.source.body,
            self.operation.name.value if self.operation.name else None,
            variables,
            getattr(context, "caller", None),
            getattr(context, "base_url", None),
        )
