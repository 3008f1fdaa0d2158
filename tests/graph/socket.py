"""A graphql-transport-ws client over Channels' WebsocketCommunicator, in process."""

from __future__ import annotations

import itertools
from typing import Any

from channels.testing import WebsocketCommunicator

TIMEOUT = 10  # seconds a reply may take; a healthy one takes milliseconds


class Socket:
    """One authenticated connection; operations are multiplexed on it by id."""

    def __init__(self, application: Any, key: str) -> None:
        self._communicator = WebsocketCommunicator(
            application, "/graphql", subprotocols=["graphql-transport-ws"]
        )
        self._key = key
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Socket:
        connected, subprotocol = await self._communicator.connect(timeout=TIMEOUT)
        assert connected and subprotocol == "graphql-transport-ws"
        await self.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {self._key}"}}
        )
        assert (await self.receive())["type"] == "connection_ack"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._communicator.disconnect()

    async def send(self, message: dict[str, Any]) -> None:
        await self._communicator.send_json_to(message)

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = await self._communicator.receive_json_from(timeout=TIMEOUT)
        return message

    async def start(self, query: str, **variables: Any) -> str:
        """Subscribe with `query` (any operation); returns the operation's id."""
        operation = str(next(self._ids))
        await self.send(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )
        return operation

    async def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        """A query or mutation over the socket: its one `next` payload, then `complete`.
        Other operations' messages meanwhile are not expected here."""
        operation = await self.start(query, **variables)
        result = await self.receive()
        assert result["id"] == operation and result["type"] == "next", result
        done = await self.receive()
        assert done == {"id": operation, "type": "complete"}, done
        payload: dict[str, Any] = result["payload"]
        return payload
