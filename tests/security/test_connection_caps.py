"""Connections a web node holds are capped: websockets in all and per client address
(refused with a readable, retryable close code), and HTTP clients that trickle their
headers (slowloris) are cut off after the header timeout.

Several client addresses come from the loopback range (127.0.0.2, 127.0.0.3, ...):
the server sees each as a client of its own.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests import wsclient
from tests.stack import ALICE_KEY, Stack, running_stack

PER_CLIENT, TOTAL = 3, 5
HEADER_TIMEOUT = 2.0
CAPS_ENV = {
    "ATELIER_WS_MAX_PER_CLIENT": str(PER_CLIENT),
    "ATELIER_WS_MAX_CONNECTIONS": str(TOTAL),
    "ATELIER_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
}


@pytest.fixture(scope="module")
def caps_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("caps-stack")
    with running_stack(redis_url, folder, stack_models, CAPS_ENV) as running:
        yield running


async def _open(url: str, source: str) -> AsyncExitStack | int:
    """An initialised socket from `source`, open until the stack returned is closed, or
    the code it was closed with."""
    async with AsyncExitStack() as opening:
        ws = await opening.enter_async_context(
            wsclient.session(url, wsclient.TRANSPORT_WS, local_addr=(source, 0))
        )
        try:
            await ws.init(ALICE_KEY)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
        return opening.pop_all()


def test_websockets_are_capped_per_client_address_and_in_all(caps_stack: Stack) -> None:
    async def run() -> dict[str, object]:
        async with AsyncExitStack() as held:
            first = [await _open(caps_stack.ws_url, "127.0.0.1") for _ in range(PER_CLIENT)]
            for opened in first:
                assert not isinstance(opened, int), opened
                held.push_async_callback(opened.aclose)
            over_per_client = await _open(caps_stack.ws_url, "127.0.0.1")
            others = [
                await _open(caps_stack.ws_url, "127.0.0.2") for _ in range(TOTAL - PER_CLIENT)
            ]
            for opened in others:
                assert not isinstance(opened, int), opened
                held.push_async_callback(opened.aclose)
            over_total = await _open(caps_stack.ws_url, "127.0.0.3")
            # A socket closed frees its place.
            await first[0].aclose()  # type: ignore[union-attr]
            await asyncio.sleep(0)
            again = await _retry_open(caps_stack.ws_url, "127.0.0.1")
            if not isinstance(again, int):
                held.push_async_callback(again.aclose)
            return {"per_client": over_per_client, "total": over_total, "again": again}

    got = asyncio.run(run())
    assert got["per_client"] == 4503, got
    assert got["total"] == 4503, got
    assert not isinstance(got["again"], int), got


async def _retry_open(url: str, source: str) -> AsyncExitStack | int:
    """The server counts a socket closed once its consumer has ended: try a few times."""
    for _ in range(50):
        opened = await _open(url, source)
        if not isinstance(opened, int):
            return opened
        await asyncio.sleep(0.1)
    return opened


def test_clients_trickling_headers_are_cut_off_and_the_node_stays_responsive(
    caps_stack: Stack,
) -> None:
    slow = []
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", caps_stack.port), timeout=30)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        slow.append(sock)
    started = time.monotonic()
    closed: dict[int, float] = {}
    answers: list[bytes] = []
    while len(closed) < len(slow) and time.monotonic() - started < 60:
        for n, sock in enumerate(slow):
            if n in closed:
                continue
            try:
                sock.sendall(b"X-Trickle: a\r\n")  # one header line at a time, never the end
                sock.settimeout(0.01)
                data = sock.recv(4096)
                if data:
                    answers.append(data)
                    continue
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                pass
            closed[n] = time.monotonic() - started
        healthy = httpx.get(f"{caps_stack.http_url}/healthz", timeout=5)
        assert healthy.status_code == 200
        time.sleep(0.2)
    for sock in slow:
        sock.close()
    assert len(closed) == len(slow), f"{len(slow) - len(closed)} trickling clients still open"
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:1]
    print(f"slowloris: all {len(slow)} closed by {max(closed.values()):.1f} s")
