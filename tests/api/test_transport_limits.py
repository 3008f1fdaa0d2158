"""Transport limits against a real daphne: body size, websocket init/operations/rate, origins.

The stack here runs with small limits of its own, so each one is reached quickly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from graph.ratelimits import TokenBucket
from tests.api.scenarios import generation, worker_held
from tests.client import Api
from tests.stack import ALICE_KEY, BOB_KEY, Stack, running_stack
from tests.wsclient import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, Session, session

MAX_BODY = 200_000
MAX_OPERATIONS = 3
BURST = 10
ALLOWED_ORIGIN = "https://app.example"
LIMITS = {
    "ATELIER_MAX_BODY_BYTES": str(MAX_BODY),
    "ATELIER_WS_MAX_SUBSCRIPTIONS": str(MAX_OPERATIONS),
    "ATELIER_WS_MAX_MESSAGES_PER_SECOND": "5",
    "ATELIER_WS_MESSAGE_BURST": str(BURST),
    "ATELIER_WS_INIT_TIMEOUT": "1",
    "ATELIER_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
}
FOLLOW = "subscription Follow($id: ID!) { taskProgress(id: $id) { id status sequence } }"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
OWN_TASKS = "{ tasks(limit: 1) { id } }"


@pytest.fixture(scope="module")
def stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("transport-limits")
    with running_stack(redis_url, folder, stack_models, extra_env=LIMITS) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


def post_graphql(stack: Stack, content: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        stack.http_url + "/graphql",
        content=content,
        headers={
            "Authorization": f"Bearer {ALICE_KEY}",
            "Content-Type": "application/json",
            **headers,
        },
        timeout=30,
    )


def padded_query(pad: int) -> bytes:
    # Unused variables are ignored by GraphQL, so only the size differs.
    return json.dumps({"query": OWN_TASKS, "variables": {"pad": "x" * pad}}).encode()


def chunks(body: bytes, size: int = 16_384) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_healthy(stack: Stack) -> None:
    started = time.monotonic()
    response = httpx.get(stack.http_url + "/healthz", timeout=5)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 2


def only_error(response: httpx.Response) -> dict[str, Any]:
    assert "Traceback" not in response.text and "File " not in response.text, response.text
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    return body["errors"][0]


# --- request body size -----------------------------------------------------------------------


def test_body_over_the_limit_by_content_length_is_refused_with_413(stack: Stack) -> None:
    response = post_graphql(stack, padded_query(MAX_BODY + 50_000))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    error = only_error(response)
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "limit": MAX_BODY}
    assert_healthy(stack)


def test_chunked_body_over_the_limit_is_refused_with_413(stack: Stack) -> None:
    body = padded_query(MAX_BODY * 2)
    response = post_graphql(stack, chunks(body))
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert only_error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert_healthy(stack)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_under_the_limit_is_served(stack: Stack, chunked: bool) -> None:
    body = padded_query(MAX_BODY - 1_000)
    response = post_graphql(stack, chunks(body) if chunked else body)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body and isinstance(body["data"]["tasks"], list), body


# --- websocket: connection_init timeout ------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_websocket_without_connection_init_is_closed_with_4408(stack: Stack, protocol: str) -> None:
    async def scenario() -> tuple[int | None, float]:
        async with session(stack.ws_url, protocol) as ws:
            started = time.monotonic()
            code = await ws.close_code(timeout=5)
            return code, time.monotonic() - started

    code, waited = asyncio.run(scenario())
    assert code == 4408
    assert 0.8 <= waited < 3, waited


# --- websocket: concurrent operations --------------------------------------------------------


async def first_event(ws: Session, op_id: str) -> dict[str, Any]:
    message = await ws.receive()
    assert message["type"] == ws.frames.data and message["id"] == op_id, message
    return message["payload"]["data"]["taskProgress"]


async def until_completed(ws: Session, op_ids: set[str]) -> dict[str, list[str]]:
    """Each operation's statuses, read until every one of `op_ids` has completed."""
    statuses: dict[str, list[str]] = {}
    for op_id, messages in (await ws.until_done(op_ids, timeout=30)).items():
        *events, done = messages
        assert done["type"] == "complete", messages
        assert all(m["type"] == ws.frames.data for m in events), messages
        statuses[op_id] = [m["payload"]["data"]["taskProgress"]["status"] for m in events]
    return statuses


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_operation_over_the_limit_is_rate_limited_and_the_others_carry_on(
    api: Api, stack: Stack, protocol: str
) -> None:
    async def scenario(task_id: str) -> None:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init()
            for op_id in ("1", "2", "3"):
                await ws.subscribe(op_id, FOLLOW, id=task_id)
                assert (await first_event(ws, op_id))["status"] == "QUEUED"

            await ws.subscribe("4", FOLLOW, id=task_id)
            refused = await ws.receive()
            assert refused["type"] == "error" and refused["id"] == "4", refused
            [error] = ws.frames.errors(refused)
            assert error["extensions"]["code"] == "RATE_LIMITED", error
            assert error["extensions"]["limit"] == MAX_OPERATIONS

            # Completing one frees its slot on the same connection.
            await ws.send(ws.frames.stop("1"))
            if protocol == LEGACY_WS:
                assert await ws.receive() == {"type": "complete", "id": "1"}
            await ws.subscribe("5", FOLLOW, id=task_id)
            assert (await first_event(ws, "5"))["status"] == "QUEUED"

            await asyncio.to_thread(api.cancel, task_id)
            statuses = await until_completed(ws, {"2", "3", "5"})
            assert all(seen[-1] == "CANCELLED" for seen in statuses.values()), statuses

    with worker_held(api):
        task = api.submit(generation(f"watched over {protocol}"))
        asyncio.run(scenario(task["id"]))


# --- websocket: message rate -----------------------------------------------------------------


async def flood(ws: Session, frames: list[dict[str, Any]]) -> int | None:
    """Send every frame as fast as possible, then the server's close code. The server
    decides when to close; how long it takes to get there is the machine's business, so
    the wait for it is long (a hang, not a slow machine, runs out of it)."""
    try:
        for frame in frames:
            await ws.send(frame)
    except ConnectionClosed:
        pass
    return await ws.close_code(timeout=60)


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=5, burst=10, clock=lambda: now[0])
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    now[0] += 0.5
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] += 60
    assert sum(bucket.take() for _ in range(20)) == 10


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_message_flood_is_closed_with_4429(stack: Stack, protocol: str) -> None:
    async def scenario() -> int | None:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init()
            noise = {"type": "ping"} if protocol == TRANSPORT_WS else ws.frames.stop("nothing")
            return await flood(ws, [noise] * 50)

    assert asyncio.run(scenario()) == 4429


def test_messages_within_the_rate_keep_the_connection_open(stack: Stack) -> None:
    async def scenario() -> int:
        async with session(stack.ws_url, TRANSPORT_WS) as ws:
            await ws.init()  # one token of the burst
            for _ in range(BURST - 1):
                await ws.send({"type": "ping"})
            await asyncio.sleep(0.7)  # refills 3.5 tokens at 5 a second
            for _ in range(3):
                await ws.send({"type": "ping"})
            pongs = 0
            for _ in range(BURST + 2):
                pongs += (await ws.receive())["type"] == "pong"
            assert await ws.close_code(timeout=0.5) is None, "closed within the rate"
            return pongs

    assert asyncio.run(scenario()) == BURST + 2


def test_subscribe_flood_leaves_the_server_serving_others(api: Api, stack: Stack) -> None:
    async def flooder(protocol: str) -> int | None:
        async with session(stack.ws_url, protocol) as ws:
            await ws.init()
            frames = [ws.frames.subscribe(str(n), FOLLOW, id=UNKNOWN_ID) for n in range(1000)]
            return await flood(ws, frames)

    async def floods() -> list[int | None]:
        return list(await asyncio.gather(*(flooder(p) for p in PROTOCOLS * 2)))

    # Every flood is closed (none left open, none served), and the server still
    # answers others: how fast is the machine's, so no clock is read here.
    assert asyncio.run(floods()) == [4429] * 4
    assert_healthy(stack)

    bob = Api(stack.http_url, stack.ws_url, key=BOB_KEY)
    task = bob.submit(generation("after the flood"))
    events = asyncio.run(bob.events(task["id"], timeout=60))
    assert events[-1]["status"] == "SUCCEEDED", events[-1]["error"]


# --- browser origins -------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.example", "null"])
def test_websocket_from_a_disallowed_origin_is_refused_at_the_handshake(
    stack: Stack, origin: str
) -> None:
    async def scenario() -> None:
        async with session(stack.ws_url, TRANSPORT_WS, additional_headers={"Origin": origin}):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(scenario())
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, None], ids=["allowed", "no-origin"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_websocket_from_an_allowed_origin_or_none_is_accepted(
    stack: Stack, origin: str | None, protocol: str
) -> None:
    headers = {"Origin": origin} if origin else {}

    async def scenario() -> None:
        async with session(stack.ws_url, protocol, additional_headers=headers) as ws:
            await ws.init()

    asyncio.run(scenario())


def test_http_from_a_disallowed_origin_is_refused_with_403(stack: Stack) -> None:
    response = post_graphql(stack, json.dumps({"query": OWN_TASKS}), Origin="https://evil.example")
    assert response.status_code == 403, response.text
    assert only_error(response)["extensions"] == {"code": "FORBIDDEN"}


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, None, "self"], ids=["allowed", "none", "same"])
def test_http_from_an_allowed_origin_or_none_is_served(stack: Stack, origin: str | None) -> None:
    # "self": the page's own origin, as GraphiQL served from this server sends.
    headers = {"Origin": stack.http_url if origin == "self" else origin} if origin else {}
    response = post_graphql(stack, json.dumps({"query": OWN_TASKS}), **headers)
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
