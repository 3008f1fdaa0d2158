"""GraphQL over Server-Sent Events: the graphql-sse protocol, distinct connections mode.

For clients behind proxies that block websockets. A `GET` or `POST` to `/graphql`
whose Accept header names `text/event-stream` (`EventStreamRoute`) is one operation on
one HTTP response: each result is an `event: next` with the ExecutionResult as its
`data`, then `event: complete`, then the response ends; closing it stops the operation.
Queries and mutations get their one `next` and `complete`; subscriptions
(`taskProgress`, `myTasks`) send the snapshot, then every change, as over the
websocket. Single connection mode (reservations by `PUT`) is not offered: 405.

The operation runs through strawberry's own SSE transport, with the same schema (so
the same document checks, rate limits and error masking), the same context and
authentication as GraphQL over HTTP (`Authorization: Bearer <key>`), and the
websocket's way of joining task groups (`project.edge.grouplistening`). Errors are
GraphQL errors in a `next` event, then `complete`: an unknown task is `NOT_FOUND`,
a missing key `UNAUTHENTICATED`, as over HTTP. Each API key runs a bounded number
of operations at once (`project.edge.ssestreams`).

Why not strawberry's Channels HTTP consumer alone: Channels hands a consumer its
messages one at a time, and an HTTP consumer answers inside its handler, so while an
answer streams neither the task's events (channel-layer messages to this consumer)
nor the client's disconnect would be read. Here the answer runs beside the consumer's
message loop, and a disconnect stops it and leaves the task's group at once.

While idle, a comment line (`: ping`) goes out every 15 seconds (strawberry's
`SSE_HEARTBEAT_INTERVAL`): proxies and load balancers cut a response idle for
their read timeout (nginx and AWS ALB: 60 s), and a client gone without a word is
noticed only when a write to it fails. Daphne writes each event to the socket as it
is sent (chunked, nothing held back), and `X-Accel-Buffering: no` asks nginx not to
buffer either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from channels.layers import DEFAULT_CHANNEL_LAYER
from strawberry.http.streaming import SSETransport
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL
from strawberry.types.execution import ExecutionResult

from graph.context import Context
from graph.errors import ApiError
from project.edge.consumers import HTTPConsumer
from project.edge.grouplistening import GroupListening
from project.edge.refusals import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    header,
    send_error,
    subscription_limit_reached,
)
from project.edge.ssestreams import StreamsPerKey

logger = logging.getLogger("atelier.transport")

_TRANSPORT = SSETransport()


def wants_event_stream(accept: str | None) -> bool:
    """Whether a request's Accept header asks for an event stream (as strawberry's SSE
    transport reads it)."""
    return _TRANSPORT.accepts(accept or "")


class EventStreamRoute:
    """Sends a request that asks for an event stream to `streams`, any other to
    `requests`: GraphQL over SSE and GraphQL over HTTP share `/graphql`, and only the
    stream needs a channel of its own."""

    def __init__(self, streams: ASGIApp, requests: ASGIApp) -> None:
        self.streams = streams
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = scope["type"] == "http" and wants_event_stream(header(scope, b"accept"))
        await (self.streams if streaming else self.requests)(scope, receive, send)


class SSEConsumer(GroupListening, HTTPConsumer):
    """One GraphQL-over-SSE operation (see the module's docstring)."""

    # Subscriptions join task groups through this consumer's own channel.
    channel_layer_alias = DEFAULT_CHANNEL_LAYER

    def __init__(self, schema: strawberry.Schema, streams: StreamsPerKey, **kwargs: Any) -> None:
        super().__init__(
            schema, graphql_ide=None, subscription_protocols=(GRAPHQL_SSE_PROTOCOL,), **kwargs
        )
        self._streams = streams
        self._answer: asyncio.Task[None] | None = None
        self._operation: AsyncGenerator[Any, None] | None = None
        self._counted: str | None = None  # the caller holding a place in `_streams`
        self._started = False  # the response's headers went out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the server cancels the consumer (shutting down): the answer
            # is a task of its own, which nothing else would stop.
            await self._stop()

    async def http_request(self, message: dict[str, Any]) -> None:
        if "body" in message:
            self.body.append(message["body"])
        if message.get("more_body") or self._answer is not None:
            return
        # Answered beside the message loop, which goes on reading the task's events
        # and the client's disconnect (see the module's docstring).
        self._answer = asyncio.create_task(self._respond(b"".join(self.body)))

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        """The client went, or the response ended (daphne says so either way): stop
        the operation and give its place back before the consumer stops."""
        await self._stop()
        await super().http_disconnect(message)

    async def _stop(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.cancel()
            # Waits without taking the answer's cancellation for this task's own.
            await asyncio.wait([answer])
        await self._release()

    async def _respond(self, body: bytes) -> None:
        try:
            await self.handle(body)
        except Exception:
            logger.exception("GraphQL over SSE failed")
            if self._started:
                await self.send_body(b"", more_body=False)
            else:
                await send_error(self.send, 500, ApiError("internal server error"))

    async def send_headers(self, *, status: int = 200, headers: Any = None) -> None:
        self._started = True
        await super().send_headers(status=status, headers=headers)

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        context = await super().get_context(request, response)
        context.listen = self.listen
        return context

    async def execute_operation(  # type: ignore[override]
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        """Strawberry's, counted against the caller's place in `StreamsPerKey` and
        kept, so that it can be closed when its client goes."""
        caller = context.caller
        if caller is not None:  # no key: the operation fails UNAUTHENTICATED at once
            if not self._streams.take(caller):
                return _refused(self._streams.limit)
            self._counted = caller
        result = await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,  # type: ignore[arg-type]
            root_value=root_value,
            sub_response=sub_response,
        )
        if isinstance(result, AsyncGenerator):
            self._operation = result
        return result

    async def _release(self) -> None:
        """Closes the operation (leaving its groups), then gives its place back."""
        operation, self._operation = self._operation, None
        if operation is not None:
            # A cancel that finds the stream handing on a result leaves the operation
            # suspended at a yield, still in its groups. Nothing runs it any more, so
            # it is closed here (nothing to do once it has ended).
            with contextlib.suppress(Exception):
                await operation.aclose()
        caller, self._counted = self._counted, None
        if caller is not None:
            self._streams.give_back(caller)


async def _refused(limit: int) -> AsyncGenerator[ExecutionResult, None]:
    yield ExecutionResult(data=None, errors=[subscription_limit_reached(limit)])
