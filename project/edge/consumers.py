"""Strawberry's Channels consumers, with our context, authentication and websocket limits.

The websocket consumer is held to `project.edge.wslimits`, opens while Redis is out
(`project.edge.outagelayer`), and tracks itself in `project.edge.shutdown` while open, so
that a web node shutting down can close it with 1001 (Going Away).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from typing import Any, cast

import strawberry
from cross_web import HTTPException  # strawberry's own: it answers these as plain 4xx
from strawberry.channels import GraphQLHTTPConsumer, GraphQLWSConsumer
from strawberry.channels.handlers.ws_handler import ChannelsWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError

from graph.auth import Authenticator
from graph.context import Context
from project import services
from project.edge import shutdown
from project.edge.fanout import encode_message
from project.edge.framesender import FrameSender
from project.edge.graphqlhttp import answer
from project.edge.grouplistening import GroupListening
from project.edge.nodatabase import WithoutDatabase
from project.edge.refusals import header, send_error
from project.edge.uploads import (
    PreflightRequired,
    UploadRequestAdapter,
    is_multipart,
    operations_with_files,
    preflighted,
)
from project.edge.wshandlers import LegacyWSHandler, TransportWSHandler
from project.edge.wslimits import TOO_MANY_REQUESTS, WebsocketLimits
from project.metrics import WEBSOCKETS

logger = logging.getLogger("atelier.transport")


@functools.cache
def authenticator() -> Authenticator:
    return Authenticator(services.config().api_keys)


def _context(caller: str | None, base_url: str, **extra: Any) -> Context:
    cfg = services.config()
    return Context(
        caller=caller,
        jobs=services.job_system(),
        links=services.link_signer(),
        limits=cfg.limits,
        base_url=cfg.public_url or base_url,
        result_ttl=cfg.jobs.result_ttl,
        **extra,
    )


def _base_url(scope: dict[str, Any], secure_scheme: str) -> str:
    host = header(scope, b"host") or "{}:{}".format(*scope.get("server", ("localhost", 80)))
    scheme = "https" if scope.get("scheme") in ("https", secure_scheme) else "http"
    forwarded = header(scope, b"x-forwarded-proto")
    return f"{forwarded or scheme}://{host}"


def _decode_json(data: str | bytes) -> object:
    """`json.loads`, failing only with `JSONDecodeError`, which strawberry turns into a
    client error (HTTP 400, websocket close 4400) rather than a crash."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, RecursionError) as error:
        raise json.JSONDecodeError(f"not JSON ({type(error).__name__})", "", 0) from None


class HTTPConsumer(GraphQLHTTPConsumer, WithoutDatabase):
    # Queries and mutations need no channel of their own (subscriptions live on the
    # websocket): no Redis round trip per request, and none to fail in an outage.
    channel_layer_alias = None
    # File uploads (the GraphQL multipart request spec, on with the consumer's
    # `multipart_uploads_enabled`): see project.edge.uploads.
    request_adapter_class = UploadRequestAdapter

    async def handle(self, body: bytes) -> None:
        if is_multipart(self.scope) and not preflighted(self.scope):
            await send_error(self.send, 400, PreflightRequired())
            return
        await super().handle(body)

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        form = await request.get_form_data()
        operations = self.parse_json(form.form["operations"])
        files_map = self.parse_json(form.form["map"])
        return cast(dict[str, str], operations_with_files(operations, files_map, form.files))

    def decode_json(self, data: str | bytes) -> object:
        return _decode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry reads fields off whatever the body decodes to.
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise HTTPException(400, "the request body must be a JSON object")
        return value

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        caller = authenticator().caller(header(self.scope, b"authorization"))
        return _context(caller, _base_url(self.scope, "https"), request=request, response=response)

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        """Media type and status as GraphQL over HTTP has them (see `project.edge.graphqlhttp`)."""
        reply = answer(header(self.scope, b"accept"), response_data)
        if reply.status is not None:
            sub_response.status_code = reply.status
        sub_response.headers["Content-Type"] = reply.content_type
        return super().create_response(reply.body, sub_response)


# graphql-ws's code for "Internal server error" (daphne cannot send 1011).
INTERNAL_ERROR = (4500, "Internal server error")


def _sendable(code: int) -> bool:
    return code == 1000 or 3000 <= code <= 4999


class _FrameAdapter(ChannelsWebSocketAdapter):
    """Hands the consumer each outgoing frame with its type and operation id."""

    async def send_json(self, message: Any) -> None:
        await self.ws_consumer.send_frame(message, self.view.encode_json(message))


class WSConsumer(GroupListening, GraphQLWSConsumer, WithoutDatabase):
    """One websocket connection, held to `WebsocketLimits` (see `project.edge.wslimits`);
    each of its operations receives only its own groups' events, counted and open
    while Redis is out (`project.edge.grouplistening`)."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = _FrameAdapter

    def encode_json(self, data: object) -> str:
        return encode_message(data)

    def __init__(self, schema: strawberry.Schema, limits: WebsocketLimits) -> None:
        super().__init__(
            schema,
            connection_init_wait_timeout=dt.timedelta(seconds=limits.init_timeout),
            max_subscriptions_per_connection=limits.max_subscriptions,
            # Origins are checked in front of this consumer, by project.edge.origins.OriginGuard.
            allowed_origins=("*",),
        )
        self._messages = limits.message_bucket()
        self._frames = FrameSender(self._send_text, self._close_with, limits.max_buffered_bytes)
        self._closed = False
        self._counted = False  # in WEBSOCKETS

    async def connect(self) -> None:
        shutdown.track(self)
        WEBSOCKETS.inc()
        self._counted = True
        self._frames.watch(self.base_send)
        await super().connect()
        assert self.run_task is not None
        self.run_task.add_done_callback(self._handler_ended)

    def _handler_ended(self, task: asyncio.Task[Any]) -> None:
        """A protocol handler that failed stops reading: close its socket rather than
        leave it open with starved subscriptions and unanswered pings."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("websocket handler failed; closing", exc_info=task.exception())
        if not self._closed:
            code, reason = INTERNAL_ERROR
            self._closing = asyncio.ensure_future(self.close(code=code, reason=reason))

    def going_away(self) -> Any:
        """Close with 1001 now and send nothing more; what to wait on (see
        `project.edge.shutdown`)."""
        if self._closed:
            return None
        self._closed = True
        return shutdown.send_going_away(getattr(self, "base_send", None))

    def decode_json(self, data: str | bytes) -> object:
        return _decode_json(data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closed:
            return
        if self._messages.take():
            await super().receive(text_data, bytes_data)
            return
        logger.info("closed a websocket from %s: over its message rate", self.scope.get("client"))
        code, reason = TOO_MANY_REQUESTS
        await self.close(code=code, reason=reason)
        self._stop_handling()

    def _stop_handling(self) -> None:
        """Let the protocol handler end now, without reading what is still queued."""
        while True:
            try:
                self.message_queue.get_nowait()
            except asyncio.QueueEmpty:
                break
        self.message_queue.put_nowait({"message": None, "disconnected": True})

    async def send_frame(self, message: dict[str, Any], text: str) -> None:
        await self._frames.send(message, text, self.scope.get("client"))

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=reason)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        # Operations still running when the socket closes would otherwise fail
        # their last sends against a closed protocol.
        if not self._closed:
            await super().send(text_data, bytes_data, close)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        # Daphne sends only 1000 and 3000-4999; strawberry's legacy graphql-ws
        # handler closes with 1011, which daphne would refuse and leave open.
        if isinstance(code, int) and not isinstance(code, bool) and not _sendable(code):
            code = 4000 + code % 1000
        await super().close(code=code, reason=reason)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self._closed = True
        self._frames.stop()
        shutdown.forget(self)
        if self._counted:
            self._counted = False
            WEBSOCKETS.dec()
        await super().websocket_disconnect(message)

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        # The caller is known only after connection_init; see on_ws_connect.
        return _context(None, _base_url(self.scope, "wss"), listen=self.listen, request=request)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        value = params.get("Authorization") or params.get("authorization")
        caller = authenticator().caller(value if isinstance(value, str) else None)
        if caller is None:
            raise ConnectionRejectionError({"message": "a valid API key is required"})
        context.caller = caller
        return None
