"""Strawberry's Channels consumers, with our context and authentication."""

from __future__ import annotations

import functools
from typing import Any

from strawberry.channels import GraphQLHTTPConsumer, GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError

from graph.auth import Authenticator
from graph.context import Context
from project import services


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


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _base_url(scope: dict[str, Any], secure_scheme: str) -> str:
    host = _header(scope, b"host") or "{}:{}".format(*scope.get("server", ("localhost", 80)))
    scheme = "https" if scope.get("scheme") in ("https", secure_scheme) else "http"
    forwarded = _header(scope, b"x-forwarded-proto")
    return f"{forwarded or scheme}://{host}"


class HTTPConsumer(GraphQLHTTPConsumer):
    async def get_context(self, request: Any, response: Any) -> Context:  # type: ignore[override]
        caller = authenticator().caller(_header(self.scope, b"authorization"))
        return _context(caller, _base_url(self.scope, "https"), request=request, response=response)


def _sendable(code: int) -> bool:
    return code == 1000 or 3000 <= code <= 4999


class WSConsumer(GraphQLWSConsumer):
    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Daphne sends only 1000 and 3000-4999; strawberry's legacy graphql-ws
        # handler closes with 1011, which daphne would refuse and leave open.
        if isinstance(code, int) and not isinstance(code, bool) and not _sendable(code):
            code = 4000 + code % 1000
        await super().close(code=code, reason=reason)

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
