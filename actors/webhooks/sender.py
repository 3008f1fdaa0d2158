"""One HTTP attempt of a delivery: POST to the checked address, no redirects followed."""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from actors.webhooks.addresses import Target


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Pinned(http.client.HTTPConnection):
    """Connects to the address that was checked, not to a fresh resolution of the
    host (which could answer differently: DNS rebinding)."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedTLS(_Pinned):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """The answer's status (a 3xx is not followed: it is a failure), or the error."""
    kind = _PinnedTLS if target.url.scheme == "https" else _Pinned
    connection = kind(target, timeout)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "content-type": "application/json",
                "user-agent": "Atelier-Webhooks/1",
            },
        )
        response = connection.getresponse()
        response.read(65536)
        ok = 200 <= response.status < 300
        return Answer(response.status, None if ok else f"HTTP {response.status}")
    except TimeoutError:
        return Answer(None, f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:300])
    finally:
        connection.close()
