"""Query, Mutation and Subscription: thin resolvers over the job system."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, Info

from actors.interface import (
    Recent,
    StoreUnavailable,
    TaskPriority,
    TaskStatus,
    is_task_id,
)
from graph import mytasks, opsupdates, submitting
from graph.auth import Operators
from graph.context import Context
from graph.cost import InlineImageBudget
from graph.documents import DocumentChecks
from graph.errors import (
    BadUserInput,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    unavailable,
)
from graph.inputs import SubmitTaskInput
from graph.limits import QueryLimits
from graph.masking import PublicErrors
from graph.operations import Operations
from graph.queueupdates import with_position_checks
from graph.ratelimits import ReadBuckets, ReadRateLimit
from graph.relay import RelayQueries
from graph.scalars import CONFIG
from graph.transport import SubscriptionsOverWebsocketOnly
from graph.trusted import TrustedDocuments, TrustedOnly
from graph.types import Task, task_from_record
from graph.webhooks import WebhookInput

ContextInfo = Info[Context, None]
logger = logging.getLogger("atelier.graph")

# Distinct document texts whose trust is remembered (a frontend sends a few, often).
TRUSTED_VERDICTS = 512


@strawberry.type
class Query(RelayQueries):
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

    @strawberry.field(
        description="Queues, running tasks and workers. Admin keys only (ATELIER_ADMIN_KEYS): "
        "any other caller gets the error FORBIDDEN."
    )
    def operations(self, info: ContextInfo) -> Operations | None:
        caller = info.context.owner  # UNAUTHENTICATED comes first
        if not cast(_Schema, info.schema).operators.admit(caller):
            raise Forbidden("the operators' view needs an admin key")
        return Operations()


@strawberry.type
class Mutation:
    @strawberry.mutation(description=submitting.SUBMIT_TASK)
    async def submit_task(
        self,
        info: ContextInfo,
        input: SubmitTaskInput,
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookInput | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
    ) -> Task:
        record = await submitting.submit_task(
            info.context,
            input,
            idempotency_key=idempotency_key,
            deadline_seconds=deadline_seconds,
            webhook=webhook,
            priority=priority,
        )
        return task_from_record(record, info.context)

    @strawberry.mutation(description=submitting.SUBMIT_TASKS)
    async def submit_tasks(
        self,
        info: ContextInfo,
        inputs: list[SubmitTaskInput],
        idempotency_key: str | None = None,
        deadline_seconds: int | None = None,
        webhook: WebhookInput | None = None,
        priority: TaskPriority = TaskPriority.NORMAL,
    ) -> list[Task]:
        records = await submitting.submit_tasks(
            info.context,
            inputs,
            idempotency_key=idempotency_key,
            deadline_seconds=deadline_seconds,
            webhook=webhook,
            priority=priority,
        )
        return [task_from_record(record, info.context) for record in records]

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

    @strawberry.mutation(description=opsupdates.CANCEL_ANY_TASK)
    async def cancel_any_task(self, info: ContextInfo, id: strawberry.ID) -> Task:
        operators = cast(_Schema, info.schema).operators
        record = await opsupdates.cancel_any_task(info.context, operators, str(id))
        return task_from_record(record, info.context)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The task now, then every change in order; completes after a terminal status."
    )
    async def task_progress(
        self, info: ContextInfo, id: strawberry.ID
    ) -> AsyncGenerator[Task, None]:
        # The caller is checked here, before any stream exists; over HTTP this is never
        # reached (see graph/transport.py).
        context = info.context
        return _task_events(context, context.owner, str(id))

    @strawberry.subscription(description=mytasks.DESCRIPTION)
    async def my_tasks(
        self, info: ContextInfo, statuses: list[TaskStatus] | None = None
    ) -> AsyncGenerator[Task, None]:
        return mytasks.my_task_events(info.context, statuses)

    @strawberry.subscription(description=opsupdates.DESCRIPTION)
    async def operations_updates(self, info: ContextInfo) -> AsyncGenerator[Operations, None]:
        operators = cast(_Schema, info.schema).operators
        return opsupdates.operations_updates(info.context, operators)


async def _task_events(context: Context, owner: str, task_id: str) -> AsyncGenerator[Task, None]:
    if not is_task_id(task_id):  # not even a group name can be made of it
        raise NotFound(f"no task {task_id!r}")

    if context.listen is None:  # refused before this over HTTP (graph/transport.py)
        raise RuntimeError("subscriptions need a websocket")
    seen = False
    # The job system joins the group before reading the snapshot, so no change falls
    # in between; closing the stream leaves the group at once.
    async with (
        aclosing(context.jobs.watch(owner, task_id, context.listen)) as watched,
        aclosing(with_position_checks(watched, context.jobs)) as records,
    ):
        try:
            async for record in records:
                seen = True
                yield task_from_record(record, context)
        except StoreUnavailable as outage:
            raise unavailable(outage.retry_after) from None
    if not seen:
        raise NotFound(f"no task {task_id}")


def _outage(error: GraphQLError) -> bool:
    return isinstance(error, ServiceUnavailable) or isinstance(
        error.original_error, StoreUnavailable | ServiceUnavailable
    )


class _Schema(strawberry.Schema):
    # Who may see the operators' view: configuration, carried like the query limits.
    operators: Operators = Operators()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # A Redis outage is one line per request in the log, not a traceback each.
        for error in filter(_outage, errors):
            logger.warning(
                "SERVICE_UNAVAILABLE at %s: %s", error.path, error.original_error or error
            )
        super().process_errors([e for e in errors if not _outage(e)], execution_context)


def make_schema(
    limits: QueryLimits | None = None,
    operators: Operators | None = None,
    executor: type[StrawberryGraphQLCoreExecutionContext] | None = None,
    trusted: TrustedDocuments | None = None,
) -> strawberry.Schema:
    """The schema with its request limits (introspection can be turned off for
    production), the callers who may see the operators' view (none by default), the
    execution context the transport runs operations with (e.g. one that shares
    subscription events between subscribers: project.edge.fanout), and the only
    documents that may run (all when None)."""
    limits = limits or QueryLimits()
    reads = ReadBuckets(rate=limits.read_rate, burst=limits.read_burst)
    checks = DocumentChecks(limits)
    extensions: list[Any] = [
        lambda: PublicErrors(hide_suggestions=checks.hide_suggestions),
        SubscriptionsOverWebsocketOnly,
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        # Depth, aliases and bounded work, each distinct document validated once.
        checks.extension(),
        # What a caller's reads may cost: queries a second, images inline per response.
        lambda: ReadRateLimit(buckets=reads),
        lambda: InlineImageBudget(
            max_images=limits.max_inline_images, images_per_task=limits.max_images_per_task
        ),
    ]
    if not limits.introspection:
        extensions.append(DisableIntrospection)
    if trusted is not None:  # last: its refusal is the error that stands (graph/trusted.py)
        verdicts: Recent[str, bool] = Recent(TRUSTED_VERDICTS)
        extensions.append(lambda: TrustedOnly(documents=trusted, verdicts=verdicts))
    schema = _Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=executor,
        config=CONFIG,
    )
    schema.operators = operators or Operators()
    return schema


schema = make_schema()
