"""What every resolver gets in `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.interface import Jobs, Listen
from graph.errors import Unauthenticated
from graph.limits import InputLimits
from graph.links import LinkSigner


@dataclass
class Context:
    # Who is asking: the API key's name, "anonymous" when no keys are configured,
    # None when keys are configured and none valid was given.
    caller: str | None
    jobs: Jobs
    links: LinkSigner
    limits: InputLimits
    base_url: str
    result_ttl: int
    # How a subscription joins a task's events: given by the transports that stream
    # (the websocket, and SSE: project.edge.sse); None over plain HTTP.
    listen: Listen | None = None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        if self.caller is None:
            raise Unauthenticated("a valid API key is required: Authorization: Bearer <key>")
        return self.caller
