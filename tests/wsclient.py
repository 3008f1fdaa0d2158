"""The suite's own websocket GraphQL client, for tests that need the protocol's own
frames and close codes (the ecosystem's clients are tested in tests/clients).

One `Session` speaks either subprotocol, over a real socket (`session`) or in process
through Channels' test communicator (`in_process`); `Frames` holds the few words in
which graphql-transport-ws and legacy graphql-ws differ.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from channels.testing import WebsocketCommunicator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.stack import ALICE_KEY

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)


@dataclass(frozen=True)
class Frames:
    protocol: str

    @property
    def legacy(self) -> bool:
        return self.protocol == LEGACY_WS

    @property
    def data(self) -> str:
        return "data" if self.legacy else "next"

    def init(self, key: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {key}"} if key else {}
        return {"type": "connection_init", "payload": payload}

    def subscribe(self, op_id: str, query: str, **variables: Any) -> dict[str, Any]:
        return {
            "type": "start" if self.legacy else "subscribe",
            "id": op_id,
            "payload": {"query": query, "variables": variables},
        }

    def stop(self, op_id: str) -> dict[str, Any]:
        return {"type": "stop" if self.legacy else "complete", "id": op_id}

    def errors(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The GraphQL errors of an `error` message (legacy sends one, unwrapped)."""
        payload = message["payload"]
        return [payload] if self.legacy else payload


class Connection(Protocol):
    """What a session needs of a websocket: text out, text in."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


class Session:
    def __init__(self, ws: Connection, protocol: str) -> None:
        self.ws = ws
        self.frames = Frames(protocol)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        """The next message, skipping legacy keep-alives."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message.get("type") != "ka":
                return message

    async def init(self, key: str | None = ALICE_KEY) -> None:
        await self.send(self.frames.init(key))
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        await self.send(self.frames.subscribe(op_id, query, **variables))

    async def execute(self, op_id: str, query: str, **variables: Any) -> dict[str, Any]:
        """A query or mutation over the socket: its one result's payload, once the
        operation completed (no other operation's messages expected meanwhile). An
        operation refused before it runs (an `error` message) answers `{"errors": [...]}`."""
        await self.subscribe(op_id, query, **variables)
        result = await self.receive()
        assert result["id"] == op_id, result
        if result["type"] == "error":
            return {"errors": self.frames.errors(result)}
        assert result["type"] == self.frames.data, result
        done = await self.receive()
        assert done == {"id": op_id, "type": "complete"}, done
        payload: dict[str, Any] = result["payload"]
        return payload

    async def until_done(
        self, op_ids: Iterable[str], timeout: float = 60
    ) -> dict[str, list[dict[str, Any]]]:
        """Each operation's messages, read until every one of `op_ids` has ended with a
        `complete` or an `error` (its last message); `timeout` bounds each wait. A message
        for any other operation fails."""
        seen: dict[str, list[dict[str, Any]]] = {op_id: [] for op_id in op_ids}
        pending = set(seen)
        while pending:
            message = await self.receive(timeout)
            op_id = message.get("id")
            assert op_id in seen, f"a message for no operation awaited: {message}"
            seen[op_id].append(message)
            if message["type"] in ("complete", "error"):
                pending.discard(op_id)
        return seen

    async def close_code(self, timeout: float = 10) -> int | None:
        """Read until the server closes; its close code, or None if it stays open."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None


@asynccontextmanager
async def session(url: str, protocol: str, **connect_options: Any) -> AsyncIterator[Session]:
    async with connect(url, subprotocols=[protocol], **connect_options) as ws:  # type: ignore[list-item]
        yield Session(ws, protocol)


class _Communicated:
    """Channels' test communicator as a `Connection`."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self._communicator = communicator

    async def send(self, message: str) -> None:
        await self._communicator.send_to(text_data=message)

    async def recv(self) -> str | bytes:
        # The session bounds each wait; the communicator's own default is one second.
        received: str | bytes = await self._communicator.receive_from(timeout=3600)
        return received


@asynccontextmanager
async def in_process(
    application: Any, protocol: str, key: str | None = ALICE_KEY
) -> AsyncIterator[Session]:
    """An initialised session with an ASGI websocket application in this process."""
    communicator = WebsocketCommunicator(application, "/graphql", subprotocols=[protocol])
    connected, chosen = await communicator.connect(timeout=10)
    assert connected and chosen == protocol, (connected, chosen)
    try:
        session = Session(_Communicated(communicator), protocol)
        await session.init(key)
        yield session
    finally:
        await communicator.disconnect()
