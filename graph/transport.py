"""Subscriptions need a transport that streams (the websocket, or SSE): over plain HTTP
they are a client error, not a crash."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.errors import BadUserInput


class SubscriptionsOverStreamsOnly(SchemaExtension):
    """Refuses a subscription whose transport gave the context no way to join a task's
    events (`Context.listen`): GraphQL over plain HTTP, which answers once."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        if (
            execution.operation_type is OperationType.SUBSCRIPTION
            and getattr(execution.context, "listen", None) is None
        ):
            # A result set before execution makes strawberry skip executing.
            execution.result = ExecutionResult(
                data=None,
                errors=[
                    BadUserInput(
                        "subscriptions are served over the websocket at /graphql, or over "
                        "SSE (Accept: text/event-stream)",
                        "query",
                    )
                ],
            )
        yield


# The name graph/schema.py imports.
SubscriptionsOverWebsocketOnly = SubscriptionsOverStreamsOnly
