"""Query, Mutation and Subscription: thin resolvers over the job system."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from actors.events import EVENT_TYPE, group_name
from actors.jobs import EnqueueFailed
from actors.records import TaskStatus
from graph.context import Context
from graph.errors import BadUserInput, NotFound, ServiceUnavailable
from graph.inputs import SubmitTaskInput
from graph.masking import PublicErrors
from graph.types import Task, task_from_record
from graph.validation import parse_submission

ContextInfo = Info[Context, None]


@strawberry.type
class Query:
    @strawberry.field(description="null: unknown, expired or not yours.")
    async def task(self, info: ContextInfo, id: strawberry.ID) -> Task | None:
        context = info.context
        record = await context.jobs.get(context.owner, str(id))
        return task_from_record(record, context) if record else None

    @strawberry.field(description="Your own tasks, newest first.")
    async def tasks(
        self, info: ContextInfo, status: TaskStatus | None = None, limit: int = 20
    ) -> list[Task]:
        context = info.context
        if not 1 <= limit <= context.limits.max_tasks_listed:
            raise BadUserInput(
                f"limit must be from 1 to {context.limits.max_tasks_listed}", "limit"
            )
        records = await context.jobs.list(context.owner, status=status, limit=limit)
        return [task_from_record(record, context) for record in records]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Queue a task. The same idempotencyKey from the same caller within the "
        "result TTL returns the first task instead of a new one."
    )
    async def submit_task(
        self, info: ContextInfo, input: SubmitTaskInput, idempotency_key: str | None = None
    ) -> Task:
        context = info.context
        owner = context.owner  # who asks comes first: nothing is examined for strangers
        if idempotency_key is not None and not (
            0 < len(idempotency_key) <= context.limits.max_idempotency_key_chars
        ):
            raise BadUserInput(
                f"idempotencyKey must have 1 to {context.limits.max_idempotency_key_chars} "
                "characters",
                "idempotencyKey",
            )
        submission = parse_submission(input, context.limits)
        try:
            record = await context.jobs.submit(
                owner,
                submission.kind,
                submission.params,
                submission.inputs,
                idempotency_key=idempotency_key,
            )
        except EnqueueFailed:
            raise ServiceUnavailable("the task could not be queued; try again") from None
        return task_from_record(record, context)

    @strawberry.mutation(
        description="QUEUED: cancelled at once. RUNNING: stops at its next step. "
        "Terminal: returned unchanged."
    )
    async def cancel_task(self, info: ContextInfo, id: strawberry.ID) -> Task:
        context = info.context
        record = await context.jobs.cancel(context.owner, str(id))
        if record is None:
            raise NotFound(f"no task {id}")
        return task_from_record(record, context)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The task now, then every change in order; completes after a terminal status."
    )
    async def task_progress(
        self, info: ContextInfo, id: strawberry.ID
    ) -> AsyncGenerator[Task, None]:
        context = info.context
        task_id = str(id)
        # Join the group before reading the snapshot, so no change falls in between.
        async with context.ws.listen_to_channel(
            EVENT_TYPE, groups=[group_name(task_id)]
        ) as messages:
            seen = False
            async for record in context.jobs.watch(context.owner, task_id, messages):
                seen = True
                yield task_from_record(record, context)
            if not seen:
                raise NotFound(f"no task {id}")


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[PublicErrors],
)
