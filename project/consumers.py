"""Strawberry's Channels consumers, with our context, authentication and websocket limits.

Open GraphQL websockets are kept in a registry so that a web node shutting down
can close them all with 1001 (Going Away) before it exits: graphql-ws clients
reconnect on 1001 (to another node) and subscribe again, getting the task's
snapshot first. See `close_all_going_away` and project/asgi.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

import strawberry
from cross_web import HTTPException  # strawberry's own: it answers these as plain 4xx
from strawberry.channels import GraphQLHTTPConsumer, GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError

from actors.jobs import OUTAGES
from graph.auth import Authenticator
from graph.context import Context
from project import services
from project.refusals import header
from project.wslimits import TOO_MANY_REQUESTS, LegacyWSHandler, TransportWSHandler, WebsocketLimits

logger = logging.getLogger("atelier.transport")

GOING_AWAY = 1001
GOING_AWAY_REASON = "server shutting down"


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


class HTTPConsumer(GraphQLHTTPConsumer):
    # Queries and mutations need no channel of their own (subscriptions live on the
    # websocket): no Redis round trip per request, and none to fail in an outage.
    channel_layer_alias = None

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


def _sendable(code: int) -> bool:
    return code == 1000 or 3000 <= code <= 4999


def _daphne_protocol(send: Any) -> Any:
    """The websocket protocol object behind an ASGI `send` from daphne, else None.

    Daphne passes each application `functools.partial(server.handle_reply, protocol)`;
    the protocol (autobahn's) can send any close code, where the ASGI message can
    carry only 1000 and 3000-4999.
    """
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        if callable(getattr(protocol, "sendCloseFrame", None)) and hasattr(protocol, "STATE_OPEN"):
            return protocol
    return None


def _closed(closing: Any) -> bool:
    """Whether a daphne protocol is closed, or another server's close was sent."""
    if isinstance(closing, asyncio.Future):
        return closing.done()
    return bool(closing.state == closing.STATE_CLOSED)


_live: weakref.WeakSet[WSConsumer] = weakref.WeakSet()


class _OutageTolerantLayer:
    """The channel layer as a websocket consumer uses it, opening while Redis is out.

    channels gives every consumer a channel of its own before anything else, which
    on the pub/sub layer is a Redis SUBSCRIBE: in an outage the websocket would fail
    its handshake. Our consumers receive only group messages, which that layer
    routes to a consumer in process from the group's own subscription; so, when
    Redis is out, the consumer gets a channel that exists in process only, and its
    subscriptions answer SERVICE_UNAVAILABLE until Redis is back.
    """

    def __init__(self, layer: Any) -> None:
        self._layer = layer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)

    async def new_channel(self, prefix: str = "specific.") -> str:
        try:
            return str(await self._layer.new_channel(prefix))
        except OUTAGES:
            local = getattr(self._layer, "_get_layer", None)
            in_process = local() if local is not None else None
            if not isinstance(getattr(in_process, "channels", None), dict):
                raise
            assert in_process is not None
            name = f"{in_process.prefix}{prefix}{uuid.uuid4().hex}"
            in_process.channels[name] = asyncio.Queue()
            logger.warning("Redis unavailable: websocket channel %s is in process only", name)
            return name


def close_all_going_away() -> list[Any]:
    """Close every open GraphQL websocket with 1001 (Going Away), now.

    Returns what to pass to `wait_closed`. Synchronous on purpose: it must run
    before daphne cancels the applications, in the same shutdown trigger phase.
    """
    closing = []
    for consumer in list(_live):
        try:
            protocol = consumer.going_away()
        except Exception:
            logger.exception("could not close a websocket with %d", GOING_AWAY)
            continue
        if protocol is not None:
            closing.append(protocol)
    return closing


async def wait_closed(closing: list[Any], timeout: float) -> None:
    """Until every client has answered the close (autobahn drops a silent one after
    its one-second close handshake timeout), or `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not all(_closed(protocol) for protocol in closing):
        await asyncio.sleep(0.02)


class WSConsumer(GraphQLWSConsumer):
    """One websocket connection, held to `WebsocketLimits` (see `project.wslimits`)."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: strawberry.Schema, limits: WebsocketLimits) -> None:
        super().__init__(
            schema,
            connection_init_wait_timeout=dt.timedelta(seconds=limits.init_timeout),
            max_subscriptions_per_connection=limits.max_subscriptions,
            # Origins are checked in front of this consumer, by project.origins.OriginGuard.
            allowed_origins=("*",),
        )
        self._messages = limits.message_bucket()
        self._closed = False

    @property  # type: ignore[override]
    def channel_layer(self) -> Any:
        return getattr(self, "_layer", None)

    @channel_layer.setter
    def channel_layer(self, layer: Any) -> None:
        self._layer = _OutageTolerantLayer(layer) if layer is not None else None

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncIterator[Any]:
        """Strawberry's, leaving no trace of a group it failed to join (Redis out)."""
        try:
            async with super().listen_to_channel(type, timeout=timeout, groups=groups) as messages:
                yield messages
        except OUTAGES:
            # The layer notes a member before subscribing on Redis; this drops the note
            # (the group has no Redis subscription to undo).
            for group in groups:
                if group not in self._group_refs and self.channel_layer is not None:
                    with contextlib.suppress(Exception):
                        await self.channel_layer.group_discard(group, self.channel_name)
            raise

    async def connect(self) -> None:
        _live.add(self)
        await super().connect()

    def going_away(self) -> Any:
        """Close with 1001 now and send nothing more; what to wait on (see `wait_closed`)."""
        if self._closed:
            return None
        self._closed = True
        protocol = _daphne_protocol(getattr(self, "base_send", None))
        if protocol is None:  # another ASGI server: it may send 1001 itself
            close = {"type": "websocket.close", "code": GOING_AWAY, "reason": GOING_AWAY_REASON}
            return asyncio.ensure_future(self.base_send(close))
        if protocol.state != protocol.STATE_OPEN:  # not accepted yet, or already closing
            return None
        protocol.sendCloseFrame(
            code=GOING_AWAY, reasonUtf8=GOING_AWAY_REASON.encode(), isReply=False
        )
        return protocol

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
        _live.discard(self)
        await super().websocket_disconnect(message)

    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        # The caller is known only after connection_init; see on_ws_connect.
        return _context(None, _base_url(self.scope, "wss"), ws=request, request=request)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        value = params.get("Authorization") or params.get("authorization")
        caller = authenticator().caller(value if isinstance(value, str) else None)
        if caller is None:
            raise ConnectionRejectionError({"message": "a valid API key is required"})
        context.caller = caller
        return None
