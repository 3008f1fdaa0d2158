"""Following all of a caller's tasks (myTasks) in tests: the document, a subscription read
in the background (`Feed`), and checks of what it received."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from gql import Client, gql

from tests.api.scenarios import TERMINAL
from tests.client import TASK_FIELDS, Api
from tests.wsclient import TRANSPORT_WS

MY_TASKS = (
    TASK_FIELDS
    + """
subscription Mine($statuses: [TaskStatus!]) {
  myTasks(statuses: $statuses) { ...TaskFields }
}
"""
)

Events = list[dict[str, Any]]


async def my_tasks(
    api: Api, statuses: list[str] | None = None, protocol: str = TRANSPORT_WS
) -> AsyncIterator[dict[str, Any]]:
    async with Client(transport=api.transport(protocol)) as client:
        variables = {"statuses": statuses}
        async for event in client.subscribe(gql(MY_TASKS), variable_values=variables):
            yield event["myTasks"]


class Feed:
    """One myTasks subscription (gql, its own socket), read in the background."""

    def __init__(self, api: Api, **kwargs: Any) -> None:
        self.events: Events = []
        self._changed = asyncio.Event()
        self._reading = asyncio.create_task(self._read(my_tasks(api, **kwargs)))

    async def _read(self, events: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for event in events:
                self.events.append(event)
                self._changed.set()
        finally:
            self._changed.set()

    async def until(self, done: Callable[[Events], bool], timeout: float = 60) -> None:
        async def wait() -> None:
            while not done(self.events):
                if self._reading.done():
                    self._reading.result()  # its error, if any
                    raise AssertionError(f"the subscription ended: {self.events[-3:]}")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def of(self, task_id: str) -> Events:
        return [e for e in self.events if e["id"] == task_id]

    async def close(self) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)


def has(task_id: str, status: str) -> Callable[[Events], bool]:
    return lambda events: any(e["id"] == task_id and e["status"] == status for e in events)


def ended(*task_ids: str) -> Callable[[Events], bool]:
    return lambda events: all(
        any(e["id"] == t and e["status"] in TERMINAL for e in events) for t in task_ids
    )


def assert_each_task_in_order(events: Events) -> None:
    """Per task: strictly increasing sequence, never-decreasing progress, at most one
    terminal state, its last."""
    for task_id in {e["id"] for e in events}:
        own = [e for e in events if e["id"] == task_id]
        sequences = [e["sequence"] for e in own]
        assert all(a < b for a, b in itertools.pairwise(sequences)), (task_id, sequences)
        progress = [e["progress"] for e in own]
        assert all(a <= b for a, b in itertools.pairwise(progress)), (task_id, progress)
        terminal = [e for e in own if e["status"] in TERMINAL]
        assert terminal in ([], [own[-1]]), (task_id, [e["status"] for e in own])


def assert_all_theirs(events: Iterable[dict[str, Any]], owner: Api, other: Api) -> None:
    for task_id in {e["id"] for e in events}:
        assert owner.get(task_id) is not None, f"{task_id} is not the subscriber's"
        assert other.get(task_id) is None, f"{task_id} is the other caller's too?"


async def submit(api: Api, task_input: dict[str, Any]) -> dict[str, Any]:
    return await asyncio.to_thread(api.submit, task_input)


def changes(events: Events) -> list[tuple[Any, ...]]:
    return [(e["sequence"], e["status"], e["stage"], e["step"]) for e in events]
