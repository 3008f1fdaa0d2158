"""GraphQL over SSE (graphql-sse, distinct connections mode; GitHub issue #18, item 3),
driven by the npm `graphql-sse` client (tests/clients/ecosystem/sse.mjs) against the
live stack: `taskProgress` and `myTasks` with the websocket's snapshot-then-stream
semantics, errors as `next` then `complete`, and the per-key cap on open streams,
whose place a closed stream frees once it has left its task's group.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.scenarios import assert_well_ordered, generation, is_terminal
from tests.client import Api
from tests.clients.npm import ECOSYSTEM, NpmInstall
from tests.stack import ALICE_KEY, BOB_KEY, OPS_KEY, Stack
from tests.stepgate import HOLD_AT, held

pytestmark = pytest.mark.timeout(600)

# A hang guard, not a measure: every wait below ends as soon as its condition holds.
PATIENCE = 120.0

FIELDS = "id status step totalSteps progress sequence error { code }"
PROGRESS = f"subscription Follow($id: ID!) {{ taskProgress(id: $id) {{ {FIELDS} }} }}"
MY_TASKS = f"subscription Mine {{ myTasks {{ {FIELDS} }} }}"
TASK = "query Task($id: ID!) { task(id: $id) { id status } }"
CANCEL = "mutation Cancel($id: ID!) { cancelTask(id: $id) { id status } }"

Event = dict[str, Any]


class SSEClients:
    """sse.mjs in a process of its own: operations opened and closed by name, each
    one's events (`connected`, `next`, `complete`, `error`, `closed`) kept in order."""

    def __init__(self, folder: Path, stack: Stack) -> None:
        self.stack = stack
        self.process = subprocess.Popen(
            ["node", "sse.mjs"],
            cwd=folder,
            env={**os.environ, "ATELIER_HTTP_URL": f"{stack.http_url}/graphql"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.events: defaultdict[str, list[Event]] = defaultdict(list)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._names = itertools.count()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def open(self, query: str, key: str | None, **variables: Any) -> str:
        name = f"op{next(self._names)}"
        self._send({"open": name, "key": key, "query": query, "variables": variables})
        return name

    def close(self, name: str) -> None:
        self._send({"close": name})
        self.wait(name, lambda events: any(e["event"] == "closed" for e in events))

    def wait(self, name: str, condition: Callable[[list[Event]], bool]) -> list[Event]:
        """`name`'s events once `condition` holds of them."""
        deadline = time.monotonic() + PATIENCE
        while not condition(self.events[name]):
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{name} waited in vain: {self.shown(name)}", pytrace=False)
            if line is None:
                pytest.fail(f"sse.mjs ended: {self.shown(name)}", pytrace=False)
            event = json.loads(line)
            self.events[event.pop("name")].append(event)
        return self.events[name]

    def ended(self, name: str) -> list[Event]:
        return self.wait(name, lambda events: events[-1:] != [] and _final(events[-1]))

    def shown(self, name: str) -> str:
        stderr = ""
        if self.process.poll() is not None and self.process.stderr is not None:
            stderr = self.process.stderr.read()
        return f"{json.dumps(self.events[name], indent=1)}\n{stderr}\n{self.stack.logs()[-6000:]}"

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _final(event: Event) -> bool:
    return event["event"] in ("complete", "error")


def results(events: list[Event]) -> list[dict[str, Any]]:
    return [event["payload"] for event in events if event["event"] == "next"]


def tasks(events: list[Event], field: str) -> list[dict[str, Any]]:
    return [result["data"][field] for result in results(events) if result.get("data")]


def error_codes(events: list[Event]) -> list[str]:
    return [
        error["extensions"]["code"]
        for result in results(events)
        for error in result.get("errors") or ()
    ]


def at_step(step: int) -> Callable[[list[Event]], bool]:
    return lambda events: any(task["step"] == step for task in tasks(events, "taskProgress"))


@pytest.fixture(scope="module")
def sse(ecosystem_npm_install: NpmInstall, clients_stack: Stack) -> Iterator[SSEClients]:
    problem = ecosystem_npm_install.wait()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    clients = SSEClients(ECOSYSTEM, clients_stack)
    try:
        yield clients
    finally:
        clients.stop()


@pytest.fixture(autouse=True)
def no_subscription_left(clients_stack: Stack) -> Iterator[None]:
    """After each test, every stream it opened has left its task's group on the server:
    none leaks past its client (the gauge counts every joined listener of the node)."""
    yield
    wait_for_gauge(clients_stack, 0)


def api(stack: Stack, key: str) -> Api:
    return Api(stack.http_url, stack.ws_url, key)


class Held:
    """Tasks a test holds at their step `HOLD_AT`; each released, and waited for until
    it ended, on exit, so the one worker is free for the next test."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.tasks: list[tuple[Api, str]] = []

    def submit(self, client: Api, prompt: str, steps: int = 6) -> dict[str, Any]:
        task = client.submit(generation(held(prompt), steps=steps))
        self.tasks.append((client, task["id"]))
        return task

    def release_all(self) -> None:
        for client, task_id in self.tasks:
            self.stack.release(task_id)
            client.wait_for(task_id, is_terminal, timeout=PATIENCE)


@pytest.fixture
def holding(clients_stack: Stack) -> Iterator[Held]:
    held_tasks = Held(clients_stack)
    try:
        yield held_tasks
    finally:
        held_tasks.release_all()


def test_task_progress_over_sse_follows_a_task_from_snapshot_to_succeeded_in_order(
    sse: SSEClients, clients_stack: Stack, holding: Held
) -> None:
    alice = api(clients_stack, ALICE_KEY)
    task = holding.submit(alice, "followed over sse")
    name = sse.open(PROGRESS, ALICE_KEY, id=task["id"])
    # Streamed while the task runs, not held back until the response ends.
    sse.wait(name, at_step(HOLD_AT))
    clients_stack.release(task["id"])
    events = sse.ended(name)

    assert events[0]["event"] == "connected" and events[-1]["event"] == "complete", sse.shown(name)
    followed = tasks(events, "taskProgress")
    assert error_codes(events) == [], sse.shown(name)
    assert {t["id"] for t in followed} == {task["id"]}, sse.shown(name)
    assert_well_ordered(followed)  # no duplicate sequence, one terminal event, the last
    assert followed[-1]["status"] == "SUCCEEDED", sse.shown(name)
    assert followed[-1]["progress"] == 1.0, sse.shown(name)
    steps = [t["step"] for t in followed if t["step"] is not None]
    assert steps == sorted(steps) and HOLD_AT in steps, steps
    assert steps[-1] == followed[-1]["totalSteps"] == 6, steps


def test_my_tasks_over_sse_sees_only_the_callers_tasks_while_another_key_submits_too(
    sse: SSEClients, clients_stack: Stack, holding: Held
) -> None:
    alice, bob = api(clients_stack, ALICE_KEY), api(clients_stack, BOB_KEY)
    clients = {"alice": alice, "bob": bob}
    # Each caller has an unfinished task first, so each stream's snapshot shows it has
    # joined before the tasks it must see are submitted.
    blocker = holding.submit(alice, "alice holds the worker")
    alice.wait_for(blocker["id"], lambda t: t["step"] == HOLD_AT, timeout=PATIENCE)
    bob_first = bob.submit(generation("bob 0"))
    mine = {"alice": sse.open(MY_TASKS, ALICE_KEY), "bob": sse.open(MY_TASKS, BOB_KEY)}
    for name, first in ((mine["alice"], blocker), (mine["bob"], bob_first)):
        sse.wait(
            name, lambda events, id=first["id"]: id in {t["id"] for t in tasks(events, "myTasks")}
        )

    owned = {"alice": {blocker["id"]}, "bob": {bob_first["id"]}}
    for index in range(2):  # interleaved: alice, bob, alice, bob
        owned["alice"].add(alice.submit(generation(f"alice {index + 1}"))["id"])
        owned["bob"].add(bob.submit(generation(f"bob {index + 1}"))["id"])
    clients_stack.release(blocker["id"])

    for owner, name in mine.items():

        def all_ended(events: list[Event], ids: set[str] = owned[owner]) -> bool:
            ended = {t["id"] for t in tasks(events, "myTasks") if is_terminal(t)}
            return ids <= ended

        events = sse.wait(name, all_ended)
        seen = tasks(events, "myTasks")
        other = next(o for o in owned if o != owner)
        assert {t["id"] for t in seen}.isdisjoint(owned[other]), sse.shown(name)
        # Any other task seen is one of the caller's own, left by another test.
        strangers = {t["id"] for t in seen} - owned[owner]
        assert all(clients[owner].get(task_id) for task_id in strangers), sse.shown(name)
        assert error_codes(events) == [], sse.shown(name)
        for task_id in owned[owner]:
            assert_well_ordered([t for t in seen if t["id"] == task_id])
            assert [t for t in seen if t["id"] == task_id][-1]["status"] == "SUCCEEDED"
        sse.close(name)
        assert not any(e["event"] == "complete" for e in sse.events[name])  # never completes


def test_cancelling_a_running_task_ends_its_sse_stream_with_cancelled(
    sse: SSEClients, clients_stack: Stack, holding: Held
) -> None:
    alice = api(clients_stack, ALICE_KEY)
    task = holding.submit(alice, "cancelled over sse")
    name = sse.open(PROGRESS, ALICE_KEY, id=task["id"])
    sse.wait(name, at_step(HOLD_AT))

    # The mutation over SSE too: its one result, then complete.
    cancel = sse.ended(sse.open(CANCEL, ALICE_KEY, id=task["id"]))
    assert [e["event"] for e in cancel] == ["connected", "next", "complete"], cancel
    assert tasks(cancel, "cancelTask")[0]["id"] == task["id"], cancel

    events = sse.ended(name)
    assert events[-1]["event"] == "complete", sse.shown(name)
    followed = tasks(events, "taskProgress")
    assert_well_ordered(followed)
    assert followed[-1]["status"] == "CANCELLED", sse.shown(name)
    assert followed[-1]["error"]["code"] == "CANCELLED", sse.shown(name)


def test_a_subscriber_joining_after_the_end_gets_the_final_state(
    sse: SSEClients, clients_stack: Stack
) -> None:
    alice = api(clients_stack, ALICE_KEY)
    task = alice.submit(generation("ended before anyone followed"))
    final = alice.wait_for(task["id"], is_terminal, timeout=PATIENCE)

    events = sse.ended(sse.open(PROGRESS, ALICE_KEY, id=task["id"]))
    assert [e["event"] for e in events] == ["connected", "next", "complete"], events
    [only] = tasks(events, "taskProgress")
    assert only["status"] == final["status"] == "SUCCEEDED", events
    assert only["sequence"] == final["sequence"], events

    query = sse.ended(sse.open(TASK, ALICE_KEY, id=task["id"]))
    assert [e["event"] for e in query] == ["connected", "next", "complete"], query
    assert tasks(query, "task") == [{"id": task["id"], "status": "SUCCEEDED"}], query


@pytest.mark.parametrize(
    ("case", "key", "expected"),
    [
        ("malformed id", ALICE_KEY, "NOT_FOUND"),
        ("unknown id", ALICE_KEY, "NOT_FOUND"),
        ("another key's task", BOB_KEY, "NOT_FOUND"),
        ("no key", None, "UNAUTHENTICATED"),
        ("a wrong key", "not-a-key", "UNAUTHENTICATED"),
    ],
)
def test_a_bad_id_or_key_is_an_error_with_its_code_then_complete(
    sse: SSEClients, clients_stack: Stack, case: str, key: str | None, expected: str
) -> None:
    alice = api(clients_stack, ALICE_KEY)
    ids = {
        "malformed id": "not-a-task",
        "unknown id": str(uuid.uuid4()),
    }
    task_id = ids.get(case) or alice.submit(generation("alice's own"))["id"]
    events = sse.ended(sse.open(PROGRESS, key, id=task_id))

    assert [e["event"] for e in events] == ["connected", "next", "complete"], events
    [result] = results(events)
    assert result.get("data") is None, events
    assert error_codes(events) == [expected], events
    # The code over plain HTTP for the same request, where there is one to compare.
    if expected == "UNAUTHENTICATED":
        plain = httpx.post(
            f"{clients_stack.http_url}/graphql",
            json={"query": TASK, "variables": {"id": task_id}},
            headers={"Authorization": f"Bearer {key}"} if key else {},
        ).json()
        assert [e["extensions"]["code"] for e in plain["errors"]] == [expected], plain


def subscriptions_gauge(stack: Stack) -> float:
    text = httpx.get(f"{stack.http_url}/metrics").text
    found = re.search(r"^atelier_subscriptions (\S+)$", text, re.MULTILINE)
    assert found is not None, text[:2000]
    return float(found.group(1))


def wait_for_gauge(stack: Stack, value: float) -> None:
    deadline = time.monotonic() + PATIENCE
    while (now := subscriptions_gauge(stack)) != value:
        assert time.monotonic() < deadline, f"atelier_subscriptions stayed {now}, not {value}"
        time.sleep(0.05)


def test_closing_an_sse_stream_leaves_its_group_and_frees_its_place_under_the_per_key_cap(
    sse: SSEClients, clients_stack: Stack, holding: Held
) -> None:
    # A key no other test here streams with: its places are all its own.
    ops = api(clients_stack, OPS_KEY)
    task = holding.submit(ops, "followed by many")
    ops.wait_for(task["id"], lambda t: t["step"] == HOLD_AT, timeout=PATIENCE)
    baseline = 0  # see no_subscription_left

    def first_result(name: str) -> dict[str, Any]:
        return results(sse.wait(name, lambda events: bool(results(events))))[0]

    # Open one at a time until one is refused: each open one has its snapshot.
    accepted: list[str] = []
    refused: dict[str, Any] | None = None
    while refused is None:
        assert len(accepted) <= 100, "no cap on SSE streams"
        name = sse.open(PROGRESS, OPS_KEY, id=task["id"])
        result = first_result(name)
        if result.get("errors"):
            refused = result
            assert sse.ended(name)[-1]["event"] == "complete", sse.shown(name)
        else:
            accepted.append(name)
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", refused
    assert error["extensions"]["reason"] == "SUBSCRIPTION_LIMIT", refused
    assert error["extensions"]["limit"] == len(accepted), refused
    wait_for_gauge(clients_stack, baseline + len(accepted))

    # Another key has places of its own.
    alice_side = sse.open(PROGRESS, ALICE_KEY, id=str(uuid.uuid4()))
    assert error_codes(sse.ended(alice_side)) == ["NOT_FOUND"]

    # A closed stream leaves the task's group at once, and its place is free again.
    sse.close(accepted.pop())
    wait_for_gauge(clients_stack, baseline + len(accepted))
    deadline = time.monotonic() + PATIENCE
    while True:
        name = sse.open(PROGRESS, OPS_KEY, id=task["id"])
        if not first_result(name).get("errors"):
            break
        assert time.monotonic() < deadline, sse.shown(name)
    accepted.append(name)
    wait_for_gauge(clients_stack, baseline + len(accepted))

    # Each still follows the task to its end, and every place comes back.
    clients_stack.release(task["id"])
    for name in accepted:
        assert tasks(sse.ended(name), "taskProgress")[-1]["status"] == "SUCCEEDED"
    wait_for_gauge(clients_stack, baseline)


def test_an_idle_sse_stream_is_kept_alive_by_comment_lines_and_not_cached(
    clients_stack: Stack,
) -> None:
    """A stream with nothing to send still writes a comment line now and then, which
    graphql-sse clients skip, so proxies that cut idle responses leave it open. Over
    GET, as the protocol allows: the document in the query string."""
    with httpx.stream(
        "GET",
        f"{clients_stack.http_url}/graphql",
        params={"query": MY_TASKS},
        headers={"Accept": "text/event-stream", "Authorization": f"Bearer {ALICE_KEY}"},
        timeout=PATIENCE,
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]
        assert response.headers["x-accel-buffering"] == "no"
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith(":")) == ": ping"
