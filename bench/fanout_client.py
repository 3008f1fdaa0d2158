"""One subscriber process of the fan-out benchmark: many websockets, one subscription each.

    python -m bench.fanout_client SPEC.json

SPEC: {"url", "key", "tasks": [task id per connection], "out": result path,
"connect_concurrency", "connect_timeout"}. Speaks graphql-transport-ws with the
`websockets` package directly (no gql: a lean client, so that it is not the
bottleneck): connection_init, one `taskProgress(id)` subscription selecting
`id status step sequence`, then it only timestamps what arrives
(`time.time()`) and parses it after the run.

Talks to its parent over stdio: prints one JSON line `{"ready": ..., "refused":
...}` once every connection has subscribed (its first event, the snapshot,
arrived) or failed; ends when every subscription has completed, or when a line
`stop` comes on stdin. Then writes the result file: per subscription its task, the
(sequence, receive time) of every event, whether it got a terminal status and the
`complete` message, and any error; connections that failed count as refused,
with their reasons.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")
QUERY = "subscription ($id: ID!) { taskProgress(id: $id) { id status step sequence } }"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class Subscriber:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.raw: list[tuple[float, str]] = []
        self.refused: str | None = None
        self.error: str | None = None
        self.completed = False
        self.ws: ClientConnection | None = None

    async def open(self, url: str, key: str, timeout: float) -> None:
        """Connect, initialise and subscribe; returns once the snapshot arrived."""
        try:
            self.ws = await connect(
                url,
                subprotocols=[PROTOCOL],
                compression=None,
                open_timeout=timeout,
                ping_interval=None,
                close_timeout=2,
            )
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
            await self.ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if ack.get("type") != "connection_ack":
                raise ConnectionError(f"no connection_ack: {ack.get('type')}")
            subscribe = {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": QUERY, "variables": {"id": self.task_id}},
            }
            await self.ws.send(json.dumps(subscribe))
            first = await asyncio.wait_for(self.ws.recv(), timeout)
            self._take(time.time(), str(first))
        except Exception as error:  # any failure to get a live subscription: refused
            self.refused = f"{type(error).__name__}: {error}"[:200]
            if self.ws is not None:
                self.ws.transport.abort()

    def _take(self, received: float, message: str) -> bool:
        """Keep a message; True when the subscription is over."""
        if '"next"' in message:
            self.raw.append((received, message))
            return False
        parsed = json.loads(message)
        kind = parsed.get("type")
        if kind == "complete":
            self.completed = True
            return True
        if kind == "error":
            self.error = json.dumps(parsed.get("payload"))[:300]
            return True
        if kind == "ping":
            return False
        self.raw.append((received, message))
        return False

    async def follow(self) -> None:
        assert self.ws is not None
        if self.error or self.completed:
            return
        try:
            async for message in self.ws:
                if self._take(time.time(), str(message)):
                    break
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"[:200]

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 2)
            except Exception:
                self.ws.transport.abort()

    def result(self) -> dict[str, Any]:
        events = []
        terminal = False
        for received, message in self.raw:
            try:
                payload = json.loads(message)["payload"]
                task = payload["data"]["taskProgress"]
            except (KeyError, TypeError, ValueError):
                self.error = self.error or message[:300]
                continue
            events.append((task["sequence"], received))
            terminal = terminal or task["status"] in TERMINAL
        return {
            "task": self.task_id,
            "events": events,
            "terminal": terminal,
            "completed": self.completed,
            "refused": self.refused,
            "error": self.error,
        }


async def _stdin_stop() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            return


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    subscribers = [Subscriber(task_id) for task_id in spec["tasks"]]
    gate = asyncio.Semaphore(spec.get("connect_concurrency", 32))
    timeout = float(spec.get("connect_timeout", 30))
    began = time.time()

    async def open_one(subscriber: Subscriber) -> None:
        async with gate:
            await subscriber.open(spec["url"], spec["key"], timeout)

    await asyncio.gather(*(open_one(s) for s in subscribers))
    connected = time.time()
    live = [s for s in subscribers if s.refused is None]
    print(json.dumps({"ready": len(live), "refused": len(subscribers) - len(live)}), flush=True)

    followers: asyncio.Future[Any] = asyncio.gather(*(s.follow() for s in live))
    stop: asyncio.Future[Any] = asyncio.ensure_future(_stdin_stop())
    await asyncio.wait({followers, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    followers.cancel()
    await asyncio.gather(followers, return_exceptions=True)
    followed = time.time()
    await asyncio.gather(*(s.close() for s in live))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "subscriptions": [s.result() for s in subscribers],
        "refused": len(subscribers) - len(live),
        "refusedReasons": dict(Counter(s.refused for s in subscribers if s.refused)),
        "connectSeconds": round(connected - began, 3),
        "followSeconds": round(followed - connected, 3),
        "cpuSeconds": round(usage.ru_utime + usage.ru_stime, 3),
        "maxRssMb": round(usage.ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(main(spec))
    Path(spec["out"]).write_text(json.dumps(result))
