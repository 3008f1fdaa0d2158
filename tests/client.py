"""A GraphQL client for tests: HTTP with httpx, subscriptions with gql over websockets."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from PIL import Image

from tests.stack import ALICE_KEY

TASK_FIELDS = """
fragment TaskFields on Task {
  id kind status progress stage step totalSteps queuePosition sequence cancelRequested attempts
  createdAt startedAt finishedAt expiresAt
  error { code message }
  preview { width height url }
  result { seed promptUsed negativePromptUsed metadata image { contentType width height url } }
}
"""
SUBMIT = (
    TASK_FIELDS
    + """
mutation Submit($input: SubmitTaskInput!, $key: String) {
  submitTask(input: $input, idempotencyKey: $key) { ...TaskFields }
}
"""
)
CANCEL = TASK_FIELDS + "mutation Cancel($id: ID!) { cancelTask(id: $id) { ...TaskFields } }"
GET = TASK_FIELDS + "query Get($id: ID!) { task(id: $id) { ...TaskFields } }"
PROGRESS = TASK_FIELDS + "subscription Follow($id: ID!) { taskProgress(id: $id) { ...TaskFields } }"


class Api:
    def __init__(self, http_url: str, ws_url: str, key: str | None = ALICE_KEY) -> None:
        self.http_url = http_url
        self.ws_url = ws_url
        self.key = key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=http_url, headers=headers, timeout=30)

    def execute(self, query: str, **variables: Any) -> dict[str, Any]:
        """The whole GraphQL response: {"data": ..., "errors": [...]}."""
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code in (200, 400), response.text
        return response.json()

    def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.execute(query, **variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def submit(self, task_input: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        return self.data(SUBMIT, input=task_input, key=key)["submitTask"]

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self.data(CANCEL, id=task_id)["cancelTask"]

    def get(self, task_id: str) -> dict[str, Any] | None:
        return self.data(GET, id=task_id)["task"]

    def download(self, url: str) -> httpx.Response:
        # No headers: a signed link works in an <img> tag.
        return httpx.get(url, timeout=30)

    def wait_for(
        self, task_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        """Poll the task until `predicate` holds (for tests that must not subscribe)."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task is not None and predicate(task):
                return task
            assert time.monotonic() < deadline, f"timed out waiting on {task}"
            time.sleep(0.05)

    def transport(self, protocol: str = "graphql-transport-ws") -> WebsocketsTransport:
        payload = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return WebsocketsTransport(url=self.ws_url, init_payload=payload, subprotocols=[protocol])

    async def follow(
        self, task_id: str, protocol: str = "graphql-transport-ws"
    ) -> AsyncIterator[dict[str, Any]]:
        async with Client(transport=self.transport(protocol)) as session:
            async for event in session.subscribe(gql(PROGRESS), variable_values={"id": task_id}):
                yield event["taskProgress"]

    async def events(self, task_id: str, timeout: float = 60, **kwargs: Any) -> list[dict]:
        async def collect() -> list[dict]:
            return [event async for event in self.follow(task_id, **kwargs)]

        return await asyncio.wait_for(collect(), timeout)


def png_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.size


def image_b64(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header (valid CRCs) claims `width`x`height`, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
