"""Fan-out: an event reaching many subscribers of one web node is decoded, executed
and encoded once, not once per subscriber.

Twenty clients following one task receive the same events, and usually with the
same document and variables (one frontend, one fragment). An event's path here:

1. channels_redis's pub/sub layer hands the same message bytes to every channel of
   the task's group in this process; `SharedDecodingLayer` deserializes them once
   (kept by the identity of the bytes; no one alters the message).
2. Each subscriber's follower turns the message into a `TaskRecord` once per task
   and sequence number (the job system's side: `actors.client.following`).
3. `SharedEventExecutor` executes the subscription's selection set once per event
   for all subscribers whose request is the same. "The same" means same document
   text, operation name, variables, caller and public base URL (links in the
   result are built from it), and the same task at the same sequence number: a
   task's sequence number changes with every change to it, so an event's result
   is a function of these. The one field that changes without a new sequence
   number, `queuePosition`, is only non-null for QUEUED tasks, whose events are
   not shared.
4. `encode_message` writes each result's JSON once; subscribers' `next` frames
   differ only in their operation id.

See bench/fanout.py for what each step saves.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Hashable
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from actors.interface import Recent, TaskStatus
from actors.memo import ByIdentity
from graph.types import Task


class SharedDecodingLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: ByIdentity[bytes, Any] = ByIdentity(1024)

    def deserialize(self, message: bytes) -> Any:
        return self._decoded(message, super().deserialize)


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


_encoded: ByIdentity[object, str] = ByIdentity(4096)


def encode_message(message: object) -> str:
    if isinstance(message, dict) and message.get("type") == "next":
        payload = message.get("payload")
        if isinstance(payload, dict) and payload.keys() == {"data"}:
            operation, data = _dumps(message.get("id")), _encoded(payload["data"], _dumps)
            return f'{{"id":{operation},"type":"next","payload":{{"data":{data}}}}}'
    return _dumps(message)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
