"""Strawberry's two websocket protocol handlers, as this server runs them.

Both check each client frame's shape first (`project.edge.wsframes`: a malformed frame
closes the socket with 4400 instead of killing the handler), answer an operation
over the connection's limit with `RATE_LIMITED` (see `project.edge.wslimits`), and run
queries and mutations as well as subscriptions: subscriptions-transport-ws and gql's
legacy transport send every operation as a legacy `start`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    ErrorMessage,
    OperationMessage,
    StartMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from project.edge.refusals import subscription_limit_reached
from project.edge.wsframes import legacy_frame_problem, transport_frame_problem
from project.edge.wslimits import INIT_TIMEOUT

BAD_FRAME = 4400


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws. The connection_init timeout (4408) is strawberry's own."""

    async def handle_message(self, message: Message) -> None:
        problem = transport_frame_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = _limit_reached(self, message["id"], self.operations)
        if limit is not None:
            error = subscription_limit_reached(limit)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """Legacy graphql-ws (subscriptions-transport-ws), with an init timeout (strawberry
    has none for this protocol)."""

    _init_received = False

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with suppress(asyncio.CancelledError):
                await timer

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self._init_received:
            code, reason = INIT_TIMEOUT
            await self.websocket.close(code=code, reason=reason)

    async def handle_message(self, message: OperationMessage) -> None:
        problem = legacy_frame_problem(message)
        if problem is not None:
            await self.websocket.close(code=BAD_FRAME, reason=problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self._init_received = True
        await super().handle_connection_init(message)

    async def handle_start(self, message: StartMessage) -> None:
        limit = _limit_reached(self, message["id"], self.tasks)
        if limit is not None:
            error = subscription_limit_reached(limit)
            await self.send_message(
                {"type": "error", "id": message["id"], "payload": error.formatted}
            )
            return
        await super().handle_start(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        """Strawberry's, through `schema.stream` rather than `schema.subscribe`, so a
        query or a mutation gets its one `data` message and `complete` (strawberry's
        refused them, which reached the client as INTERNAL)."""
        try:
            results = await self.schema.stream(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = results
            async with aclosing(results):
                first = True
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        assert result.errors
                        await self.send_message(
                            ErrorMessage(
                                type="error", id=operation_id, payload=result.errors[0].formatted
                            )
                        )
                        return
                    if not isinstance(result, ExecutionResult):  # @defer/@stream frames
                        await self.send_message(
                            ErrorMessage(
                                type="error",
                                id=operation_id,
                                payload={"message": "incremental delivery is not supported"},
                            )
                        )
                        return
                    await self.send_data_message(result, operation_id)
                    first = False
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(CompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


def _limit_reached(handler: Any, op_id: str, running: Mapping[str, object]) -> int | None:
    """The connection's operation limit, if a new operation `op_id` would pass it (an
    id already running is the protocol's own error, not ours)."""
    limit: int | None = handler.max_subscriptions_per_connection
    if (
        limit is not None
        and handler.connection_acknowledged
        and op_id not in running
        and len(running) >= limit
    ):
        return limit
    return None
