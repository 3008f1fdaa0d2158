"""Subscription events executed once per web process for all the subscribers whose
request is the same (project/edge/fanout.py), through Strawberry and graphql-core.

Executions are counted by the one resolver of `Task` that runs code, `queuePosition`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import strawberry

from actors.records import TaskRecord, TaskStatus
from graph.links import LinkSigner
from graph.types import Task, task_from_record
from project.edge.fanout import SharedEventExecutor
from tests.actors.factories import new_task

DOCUMENT = """
subscription Follow($id: ID!) {
  events(id: $id) { id status step sequence queuePosition preview { url } }
}
"""


@dataclass
class Jobs:
    """Counts `queuePosition` resolutions; `gate` holds them until set."""

    calls: int = 0
    gate: asyncio.Event | None = None

    async def queue_position(self, record: TaskRecord) -> int | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return 1 if record.status is TaskStatus.QUEUED else None


@dataclass
class Context:
    jobs: Jobs
    events: list[TaskRecord]
    base_url: str = "http://web-a"
    caller: str = "alice"
    links: LinkSigner = field(default_factory=lambda: LinkSigner(b"secret"))
    result_ttl: int = 3600


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def events(self, info: strawberry.Info, id: strawberry.ID) -> AsyncGenerator[Task, None]:
        for record in info.context.events:
            yield task_from_record(record, info.context)


schema = strawberry.Schema(
    query=Query, subscription=Subscription, execution_context_class=SharedEventExecutor
)


def history(*statuses: TaskStatus) -> list[TaskRecord]:
    """One task's successive records, a preview from the first step on."""
    task = new_task()
    return [
        task.evolve(seq=seq, status=status, step=seq, preview_width=8, preview_height=8)
        for seq, status in enumerate(statuses, start=1)
    ]


async def follow(context: Context, document: str = DOCUMENT) -> list[dict[str, Any]]:
    task_id = context.events[0].id
    stream = await schema.subscribe(
        document, variable_values={"id": task_id}, context_value=context
    )
    results = []
    async for result in stream:  # type: ignore[union-attr]
        assert not result.errors, result.errors
        assert result.data is not None
        results.append(result.data["events"])
    return results


RUNNING_TO_END = (TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED)


def test_subscribers_with_the_same_request_share_each_events_execution() -> None:
    jobs, events = Jobs(), history(*RUNNING_TO_END)

    async def main() -> list[list[dict[str, Any]]]:
        return [await follow(Context(jobs, events)) for _ in range(3)]

    first, second, third = asyncio.run(main())

    assert [event["sequence"] for event in first] == [1, 2, 3]
    assert first == second == third
    assert jobs.calls == 3  # one execution per event, not one per event per subscriber


def test_queued_events_are_executed_for_each_subscriber() -> None:
    # A queued task's position changes without a new sequence number.
    jobs, events = Jobs(), history(TaskStatus.QUEUED)

    async def main() -> list[list[dict[str, Any]]]:
        return [await follow(Context(jobs, events)) for _ in range(2)]

    first, second = asyncio.run(main())

    assert first == second == [{**first[0], "queuePosition": 1}]
    assert jobs.calls == 2


def test_requests_that_differ_are_not_shared() -> None:
    jobs, events = Jobs(), history(*RUNNING_TO_END)
    other_document = DOCUMENT.replace("step sequence", "sequence step")

    async def main() -> tuple[list[dict[str, Any]], ...]:
        return (
            await follow(Context(jobs, events)),
            await follow(Context(jobs, events, base_url="http://web-b")),
            await follow(Context(jobs, events, caller="bob")),
            await follow(Context(jobs, events), other_document),
        )

    on_a, on_b, as_bob, other = asyncio.run(main())

    assert jobs.calls == 4 * len(events)
    assert on_a[0]["preview"]["url"].startswith("http://web-a/images/")
    assert on_b[0]["preview"]["url"].startswith("http://web-b/images/")

    def without_links(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**event, "preview": None} for event in events]

    assert without_links(as_bob) == without_links(other) == without_links(on_a)


def test_a_subscriber_leaving_mid_execution_does_not_cancel_it_for_the_others() -> None:
    jobs, events = Jobs(gate=asyncio.Event()), history(TaskStatus.RUNNING, TaskStatus.SUCCEEDED)

    async def main() -> list[dict[str, Any]]:
        assert jobs.gate is not None
        leaving = asyncio.ensure_future(follow(Context(jobs, events)))
        while jobs.calls == 0:  # the shared execution of the first event has begun
            await asyncio.sleep(0.001)
        staying = asyncio.ensure_future(follow(Context(jobs, events)))
        await asyncio.sleep(0.01)
        leaving.cancel()
        await asyncio.sleep(0.01)
        jobs.gate.set()
        return await asyncio.wait_for(staying, 5)

    followed = asyncio.run(main())

    assert [event["sequence"] for event in followed] == [1, 2]
    assert jobs.calls == 2
