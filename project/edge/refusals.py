"""Requests the transport edge turns away, as GraphQL-shaped errors with a code.

The ASGI guards (`project.edge.bodylimit`, `project.edge.origins`) answer before GraphQL
runs, yet clients still get the contract's shape:
`{"errors": [{"message": ..., "extensions": {"code": ...}}]}`, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from graph.errors import ApiError, RateLimited

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PayloadTooLarge(ApiError):
    code = "PAYLOAD_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes", limit=limit)


class Forbidden(ApiError):
    code = "FORBIDDEN"


def subscription_limit_reached(limit: int) -> RateLimited:
    """The error for one operation over a connection's concurrent-operation limit."""
    error = RateLimited(
        f"at most {limit} operations may run at once on one connection; "
        "complete one before starting another",
        reason="SUBSCRIPTION_LIMIT",
        retry_after=1.0,
    )
    error.extensions = {**(error.extensions or {}), "limit": limit}
    return error


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lowercase), if present."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def send_error(send: Send, status: int, error: ApiError) -> None:
    """A complete HTTP response carrying `error` alone."""
    body = json.dumps({"errors": [error.formatted]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
