"""A Redis outage seen from the web node: clients get SERVICE_UNAVAILABLE (never INTERNAL,
never a hang), /readyz says not ready while /healthz stays alive, and once Redis is back
everything works again without restarting anything, a live subscription included.

The stack runs on a private Redis that the test stops and starts again on the same port,
keeping its data (append-only file).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from gql import Client, gql

from actors.client.following import follow
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.outage import Breaker, StoreUnavailable, outages_raise_unavailable
from project.devredis import EmbeddedRedis
from tests import wsclient
from tests.client import GET, PROGRESS, SUBMIT, Api
from tests.stack import Stack
from tests.stepgate import held

# Each Redis client of the web gives up within a couple of seconds (see project/settings.py).
FAIL_FAST = 5.0
RECOVERY = 10.0  # the web answers again within this long after Redis is back


def generation(steps: int, *, hold: bool = False) -> dict[str, Any]:
    """`hold`: the task waits at a step until the test releases it (tests.stepgate)."""
    prompt = held(f"outage {steps}") if hold else f"outage {steps}"
    return {
        "imageGeneration": {
            "prompt": prompt,
            "width": 64,
            "height": 64,
            "steps": steps,
            "refinePrompt": False,
        }
    }


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", appendonly=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[Stack]:
    # The worker builds the tiny-random model itself, in an empty model store.
    stack = Stack(
        redis_server.url,
        tmp_path / "stack",
        tmp_path / "models",
        {"ATELIER_PRELOAD": "IMAGE_GENERATION"},
    )
    with stack.held(purge=False):  # its private Redis may be stopped by then
        stack.start_worker()  # the slowest to start: first, so the web starts meanwhile
        stack.start_web()
        yield stack


class Loop:
    """An event loop on a thread of its own, for websockets that live across the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def background() -> Iterator[Loop]:
    loop = Loop()
    try:
        yield loop
    finally:
        loop.close()


async def operation(session: wsclient.Session, op_id: str) -> list[dict[str, Any]]:
    """The messages of one operation, through its `complete` (or `error`)."""
    messages = []
    while True:
        message = await session.receive(timeout=30)
        assert message.get("id") == op_id, message
        if message["type"] == "complete":
            return messages
        messages.append(message)
        if message["type"] == "error":
            return messages


class Follower(threading.Thread):
    """A taskProgress subscription in the background, noting when each event arrives."""

    def __init__(self, api: Api, task_id: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.task_id = task_id
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.error: BaseException | None = None
        self.started_running = threading.Event()

    def run(self) -> None:
        async def follow() -> None:
            async for event in self.api.follow(self.task_id):
                self.events.append((time.monotonic(), event))
                if event["status"] == "RUNNING" and (event["step"] or 0) >= 1:
                    self.started_running.set()

        try:
            asyncio.run(asyncio.wait_for(follow(), 120))
        except BaseException as error:
            self.error = error
        finally:
            self.started_running.set()


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - start


def until(what: str, check: Any, timeout: float) -> float:
    """Seconds until `check()` is true, polling; fails past `timeout`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - start


MY_TASKS = "subscription { myTasks { id status step sequence } }"


class AllFollower(threading.Thread):
    """A myTasks subscription in the background, until the task `awaited` ended in it."""

    def __init__(self, api: Api, awaited: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.awaited = awaited
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.joined = threading.Event()

    def run(self) -> None:
        async def follow() -> None:
            async with Client(transport=self.api.transport()) as session:
                async for data in session.subscribe(gql(MY_TASKS)):
                    event = data["myTasks"]
                    self.events.append(event)
                    self.joined.set()
                    if event["id"] == self.awaited and event["status"] == "SUCCEEDED":
                        return

        try:
            asyncio.run(asyncio.wait_for(follow(), 120))
        except BaseException as error:
            self.error = error
        finally:
            self.joined.set()


def test_a_redis_outage_is_service_unavailable_and_the_web_recovers_by_itself(
    stack: Stack, redis_server: EmbeddedRedis, background: Loop
) -> None:
    api = Api(stack.http_url, stack.ws_url)
    http = httpx.Client(base_url=stack.http_url, timeout=30)
    warm = api.submit(generation(2))
    assert api.wait_for(warm["id"], lambda task: task["status"] == "SUCCEEDED", 90)
    assert http.get("/readyz").status_code == 200

    # A Redis that accepts connections but never answers (frozen) is no hang either.
    assert redis_server.process is not None
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        frozen, frozen_took = timed(api.execute, GET, id=warm["id"])
        again, again_took = timed(api.execute, GET, id=warm["id"])
        unready, unready_took = timed(http.get, "/readyz")
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    print(
        f"Redis frozen: task query {frozen_took:.2f} s, then {again_took:.2f} s; "
        f"/readyz {unready_took:.2f} s"
    )
    assert codes(frozen) == codes(again) == ["SERVICE_UNAVAILABLE"], (frozen, again)
    assert frozen_took < FAIL_FAST
    assert again_took < 1  # the breaker: no second wait on a silent Redis
    assert unready.status_code == 503 and unready_took < 2.5, unready.text
    thawed = until(
        "queries after the freeze", lambda: not api.execute(GET, id=warm["id"]).get("errors"), 10
    )
    print(f"queries answered again {thawed:.2f} s after the freeze")

    # A subscriber following a task that is running (held) when Redis goes away.
    task = api.submit(generation(8, hold=True))
    follower = Follower(api, task["id"])
    follower.start()
    assert follower.started_running.wait(60), "the task never started"
    assert follower.error is None, follower.error
    # And one following all of the caller's tasks: its snapshot has the held task.
    all_follower = AllFollower(api, task["id"])
    all_follower.start()
    assert all_follower.joined.wait(60) and all_follower.error is None, all_follower.error

    redis_server.stop()
    outage = time.monotonic()

    query, query_took = timed(api.execute, GET, id=task["id"])
    submit, submit_took = timed(api.execute, SUBMIT, input=generation(2), key=None)
    ready, ready_took = timed(http.get, "/readyz")
    alive = http.get("/healthz")
    print(
        f"during the outage: task query {query_took:.2f} s, submitTask {submit_took:.2f} s, "
        f"/readyz {ready_took:.2f} s"
    )
    for body, took in ((query, query_took), (submit, submit_took)):
        assert codes(body) == ["SERVICE_UNAVAILABLE"], body
        assert "INTERNAL" not in json.dumps(body)
        assert took < FAIL_FAST, body
    assert query["errors"][0]["path"] == ["task"]
    assert submit["data"] is None
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "not ready"
    assert "redis" in ready.json()["checks"], ready.text
    assert ready_took < FAIL_FAST
    assert alive.status_code == 200 and alive.json() == {"status": "alive"}

    # A websocket opened now still opens; a subscription on it is SERVICE_UNAVAILABLE.
    connecting = wsclient.session(stack.ws_url, wsclient.TRANSPORT_WS)
    ws: wsclient.Session = background.run(connecting.__aenter__())
    background.run(ws.init())
    background.run(ws.subscribe("in-outage", PROGRESS, id=task["id"]))
    [refused] = background.run(operation(ws, "in-outage"))
    errors = refused["payload"].get("errors") or refused["payload"]
    assert [error["extensions"]["code"] for error in errors] == ["SERVICE_UNAVAILABLE"], refused
    assert errors[0]["extensions"]["retryAfter"] > 0, refused  # as for queries and mutations
    assert "INTERNAL" not in json.dumps(refused)
    background.run(ws.subscribe("all-in-outage", MY_TASKS))
    [refused] = background.run(operation(ws, "all-in-outage"))
    errors = refused["payload"].get("errors") or refused["payload"]
    assert [error["extensions"]["code"] for error in errors] == ["SERVICE_UNAVAILABLE"], refused
    time.sleep(max(0.0, 3 - (time.monotonic() - outage)))  # past every client's quick retry
    assert follower.is_alive(), ("the subscription ended in the outage", follower.events[-1:])
    assert follower.error is None, follower.error
    assert all_follower.is_alive(), ("myTasks ended in the outage", all_follower.events[-1:])

    redis_server.start()
    back = time.monotonic()
    print(f"Redis was out for {back - outage:.1f} s")

    queries_back = until(
        "task query", lambda: not api.execute(GET, id=task["id"]).get("errors"), RECOVERY
    )
    ready_back = until("/readyz", lambda: http.get("/readyz").status_code == 200, RECOVERY)
    stack.release(task["id"])
    submitted, submit_back = timed(api.submit, generation(8, hold=True))
    # Followed on the websocket opened during the outage: its events reach it.
    background.run(ws.subscribe("after", PROGRESS, id=submitted["id"]))
    snapshot = background.run(ws.receive(timeout=60), timeout=60)
    stack.release(submitted["id"])
    messages = [snapshot, *background.run(operation(ws, "after"), timeout=60)]
    assert all(m["type"] == "next" and m["payload"].get("data") for m in messages), messages
    live = [message["payload"]["data"]["taskProgress"] for message in messages]
    succeeded_after = time.monotonic() - back
    assert live[-1]["status"] == "SUCCEEDED", live[-1]
    assert len(live) > 2, live  # the snapshot, then events through the channel layer
    background.run(connecting.__aexit__(None, None, None))

    follower.join(60)
    assert not follower.is_alive(), "the subscription did not complete after Redis came back"
    assert follower.error is None, follower.error
    arrivals = [at for at, _ in follower.events]
    events = [event for _, event in follower.events]
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences)), sequences
    assert events[-1]["status"] == "SUCCEEDED", events[-1]
    assert all(event["status"] in ("QUEUED", "RUNNING") for event in events[:-1])
    # myTasks, open through the outage, caught up with the task to its end.
    all_follower.join(60)
    assert not all_follower.is_alive(), "myTasks never saw the task end after Redis came back"
    assert all_follower.error is None, all_follower.error
    own = [event for event in all_follower.events if event["id"] == task["id"]]
    assert [e["sequence"] for e in own] == sorted({e["sequence"] for e in own}), own
    assert own[-1]["status"] == "SUCCEEDED", own
    terminal_after = arrivals[-1] - back
    print(
        f"after Redis came back: queries in {queries_back:.2f} s, /readyz in {ready_back:.2f} s, "
        f"submitTask took {submit_back:.2f} s, a new task SUCCEEDED in {succeeded_after:.1f} s, "
        f"the subscriber's terminal event came in {terminal_after:.1f} s "
        f"({len(events)} events)"
    )


# -- follow() through an outage, in process -------------------------------------------


class Outage(Exception):
    pass


def record(seq: int, status: TaskStatus = TaskStatus.RUNNING) -> TaskRecord:
    return TaskRecord(
        id="00000000-0000-4000-8000-000000000001",
        kind=TaskKind.IMAGE_GENERATION,
        owner="alice",
        queue="image_generation",
        status=status,
        seq=seq,
    )


async def silent() -> Any:
    await asyncio.Future()
    yield {}


def test_follow_retries_a_resync_through_an_outage_and_ends_on_the_terminal_record() -> None:
    reads: list[float] = []
    answers: list[Any] = [record(1), Outage(), Outage(), Outage(), record(2)]
    answers.append(record(3, TaskStatus.SUCCEEDED))

    async def snapshot() -> TaskRecord | None:
        reads.append(time.monotonic())
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def main() -> list[TaskRecord]:
        stream = follow(snapshot, silent(), resync_after=1.0, transient=(Outage,), retry_after=0.05)
        return [item async for item in stream]

    followed = asyncio.run(asyncio.wait_for(main(), 5))

    assert [(item.seq, item.status) for item in followed] == [
        (1, TaskStatus.RUNNING),
        (2, TaskStatus.RUNNING),
        (3, TaskStatus.SUCCEEDED),
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    # The quiet period is jittered by a fifth either way (events._jittered).
    assert gaps[0] >= 0.8  # the first resync after the quiet period
    assert all(gap < 0.5 for gap in gaps[1:4])  # then quick retries through the outage
    assert gaps[4] >= 0.8  # back to the quiet period once the record is readable


def test_follow_raises_an_outage_on_the_first_snapshot() -> None:
    async def snapshot() -> TaskRecord | None:
        raise Outage()

    async def main() -> list[TaskRecord]:
        return [item async for item in follow(snapshot, silent(), transient=(Outage,))]

    with pytest.raises(Outage):
        asyncio.run(asyncio.wait_for(main(), 5))


def test_follow_rereads_the_record_at_once_when_nudged() -> None:
    # Redis came back: events published meanwhile were lost, the record has them.
    answers = [record(1), record(4, TaskStatus.SUCCEEDED)]
    back = asyncio.Event()

    async def snapshot() -> TaskRecord | None:
        return answers.pop(0)

    async def main() -> tuple[list[TaskRecord], float]:
        stream = follow(snapshot, silent(), resync_after=30, nudged=back.wait)
        first = await anext(stream)
        asyncio.get_running_loop().call_later(0.1, back.set)
        start = time.monotonic()
        rest = [item async for item in stream]
        return [first, *rest], time.monotonic() - start

    followed, took = asyncio.run(asyncio.wait_for(main(), 5))

    assert [item.seq for item in followed] == [1, 4]
    assert took < 2  # not the 30 s quiet-period resync


# -- the job system's breaker, for a Redis that accepts but does not answer -------------


def test_breaker_fails_fast_after_a_timeout_then_lets_one_call_probe() -> None:
    breaker = Breaker(hold=0.2)

    def timing_out() -> None:
        with breaker.passage(), outages_raise_unavailable():
            raise redis.exceptions.TimeoutError("Timeout reading from socket")

    def refused() -> None:
        with breaker.passage(), outages_raise_unavailable():
            raise redis.exceptions.ConnectionError("Connection refused")

    def answered() -> None:
        with breaker.passage():
            pass

    with pytest.raises(StoreUnavailable):
        refused()
    answered()  # a refused connection fails fast by itself: nothing held back

    with pytest.raises(StoreUnavailable):
        timing_out()
    with pytest.raises(StoreUnavailable, match="a moment ago"):
        answered()  # held back without touching Redis
    time.sleep(0.25)
    # The one probe goes through, while the others still fail at once.
    with breaker.passage(), pytest.raises(StoreUnavailable, match="a moment ago"):
        answered()
    answered()  # the probe succeeded: closed again
    answered()
