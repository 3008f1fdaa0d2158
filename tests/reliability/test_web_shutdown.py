"""A web node stopping (SIGTERM) closes its GraphQL websockets with 1001 (Going Away), so
clients reconnect elsewhere; subscribing again on another node gives the task's snapshot,
then its events until the terminal one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import wsclient
from tests.client import PROGRESS, Api
from tests.stack import Stack
from tests.stepgate import held

GOING_AWAY = 1001
PROMPT_CLOSE = 3.0  # seconds from SIGTERM to the close frame


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[list[Stack]]:
    """Stacks sharing one Redis under one tag: web nodes of the same deployment."""
    created: list[Stack] = []
    try:
        yield created
    except BaseException:
        for stack in created:
            print(stack.logs())
        raise
    finally:
        for stack in created:
            stack.stop()


def node(stacks: list[Stack], redis_url: str, folder: Path, tag: str | None = None) -> Stack:
    extra = {"ATELIER_PRELOAD": "IMAGE_GENERATION"}
    stack = Stack(redis_url, folder, folder.parent / "models", extra)
    if tag is not None:
        stack.tag = tag
    stacks.append(stack)
    return stack


def progress_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] in ("next", "data"), message
    payload = message["payload"]
    assert not payload.get("errors"), payload
    return payload["data"]["taskProgress"]


async def follow_until(session: wsclient.Session, op_id: str, done: Any) -> list[dict[str, Any]]:
    """Events of the operation until `done(event)`."""
    events: list[dict[str, Any]] = []
    while not events or not done(events[-1]):
        message = await session.receive(timeout=60)
        assert message.get("id") == op_id, message
        events.append(progress_of(message))
    return events


async def rest_of(session: wsclient.Session, op_id: str) -> list[dict[str, Any]]:
    """Events of the operation through its completion."""
    events = []
    while True:
        message = await session.receive(timeout=60)
        assert message.get("id") == op_id, message
        if message["type"] == "complete":
            return events
        events.append(progress_of(message))


def test_sigterm_closes_websockets_with_1001_and_another_node_takes_over(
    stacks: list[Stack], redis_url: str, tmp_path: Path
) -> None:
    begun = time.monotonic()
    first = node(stacks, redis_url, tmp_path / "first")
    first.start_worker()
    web = first.start_web()
    # Another web node of the same deployment, where clients go when the first one leaves.
    second = node(stacks, redis_url, tmp_path / "second", tag=first.tag)
    second.start_web()
    # Held at a step (tests.stepgate) until the client has followed it to the other node.
    task = {
        "imageGeneration": {
            "prompt": held("a long one"),
            "width": 64,
            "height": 64,
            "steps": 12,
            "refinePrompt": False,
        }
    }
    api = Api(first.http_url, first.ws_url)
    task_id = api.submit(task)["id"]

    async def before_and_after() -> None:
        # One client per subprotocol, both following the task on the first node.
        async with (
            wsclient.session(first.ws_url, wsclient.TRANSPORT_WS) as modern,
            wsclient.session(first.ws_url, wsclient.LEGACY_WS) as legacy,
        ):
            for session in (modern, legacy):
                await session.init()
                await session.subscribe("progress", PROGRESS, id=task_id)

            def started(event: dict[str, Any]) -> bool:
                return event["status"] == "RUNNING" and (event["step"] or 0) >= 1

            seen = await follow_until(modern, "progress", started)
            await follow_until(legacy, "progress", started)
            print(f"running {time.monotonic() - begun:.1f} s after the test began")

            os.killpg(web.popen.pid, signal.SIGTERM)
            sent = time.monotonic()
            codes = await asyncio.gather(modern.close_code(10), legacy.close_code(10))
            took = time.monotonic() - sent
        print(f"SIGTERM to close frames: {took:.2f} s; codes {codes}")
        assert codes == [GOING_AWAY, GOING_AWAY]
        assert took < PROMPT_CLOSE

        # The client reconnects to the other node and subscribes again.
        async with wsclient.session(second.ws_url, wsclient.TRANSPORT_WS) as again:
            await again.init()
            await again.subscribe("progress", PROGRESS, id=task_id)
            snapshot = progress_of(await again.receive(timeout=60))
            print(f"subscribed again {time.monotonic() - sent:.2f} s after SIGTERM")
            first.release(task_id)
            resumed = [snapshot, *await rest_of(again, "progress")]
        print(f"done on the other node {time.monotonic() - sent:.2f} s after SIGTERM")

        assert snapshot["id"] == task_id
        assert snapshot["sequence"] >= seen[-1]["sequence"]
        assert snapshot["status"] == "RUNNING", snapshot  # the task went on meanwhile
        sequences = [event["sequence"] for event in resumed]
        assert sequences == sorted(set(sequences)), sequences
        assert resumed[-1]["status"] == "SUCCEEDED", resumed[-1]
        assert all(event["status"] == "RUNNING" for event in resumed[:-1])
        assert len(resumed) > 2  # the snapshot, then events as they happened

    asyncio.run(asyncio.wait_for(before_and_after(), 120))
    assert web.popen.wait(10) == 0, web.output()[-3000:]
    assert "closing 2 websocket(s) with 1001" in web.output()
