"""A small GraphQL client for a local stack (project.localstack): what the end-to-end
tests (tests/client.py) and the benchmarks send.

    Api(http_url, ws_url, key)        GraphQL over HTTP (httpx) and websockets (gql)
    SUBMIT, CANCEL, GET, PROGRESS     the documents Api sends

Development tooling: it needs the `dev` extra (httpx, gql), and nothing the service
runs imports it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from project.localstack import ALICE_KEY

TASK_FIELDS = """
fragment TaskFields on Task {
  id kind status progress stage stageCode step totalSteps queuePosition sequence cancelRequested
  attempts createdAt startedAt finishedAt expiresAt
  error { code reason message }
  preview { width height url }
  result {
    seed promptUsed negativePromptUsed metadata image { contentType width height url }
    details { model device steps numImages attempts demo timings { phase ms } }
  }
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
    """A stack's GraphQL API: HTTP with httpx, subscriptions with gql over websockets,
    as the owner of `key` (none: anonymous). A request the server refuses outright
    (not 200 or 400) or an answer with errors fails an assertion."""

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
        """Poll the task until `predicate` holds (for callers that must not subscribe)."""
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
