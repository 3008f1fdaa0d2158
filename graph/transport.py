"""Subscriptions live on the websocket: over HTTP they are a client error, not a crash."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.errors import BadUserInput


class SubscriptionsOverWebsocketOnly(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        if (
            execution.operation_type is OperationType.SUBSCRIPTION
            and getattr(execution.context, "ws", None) is None
        ):
            # A result set before execution makes strawberry skip executing.
            execution.result = ExecutionResult(
                data=None,
                errors=[
                    BadUserInput("subscriptions are served over the websocket at /graphql", "query")
                ],
            )
        yield
