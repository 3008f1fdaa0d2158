"""The Relay conventions over the caller's tasks: `node`, `nodes` and `tasksConnection`
(cursor pagination as Relay's and Apollo's `relayStylePagination` helpers expect).

A task's id is already unique across the API (tasks are its only `Node`), so it is the
node id as it is: the same `id` a client already holds. Cursors are opaque to clients;
each names a place in the owner's list (creation time, id), so pages neither skip nor
repeat tasks while new ones are submitted or old ones expire. Paging goes forward
(`first`/`after`), newest first, as `tasks` does.
"""

from __future__ import annotations

import base64
import binascii

import strawberry
from strawberry.types import Info

from actors.interface import OwnerPosition, TaskStatus, is_task_id
from graph.context import Context
from graph.errors import BadUserInput
from graph.node import Node
from graph.types import Task, task_from_record

ContextInfo = Info[Context, None]


@strawberry.type(description="Where a page of a connection stands (Relay's PageInfo).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Paging goes forward only, so always false (as the Relay spec allows)."
    )
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type(description="A page of your tasks, newest first.")
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo

    @strawberry.field(description="The edges' tasks, for clients that need no cursors.")
    def nodes(self) -> list[Task]:
        return [edge.node for edge in self.edges]


def cursor_of(position: OwnerPosition) -> str:
    created_us, task_id = position
    return base64.urlsafe_b64encode(f"{created_us}:{task_id}".encode()).decode()


def position_of(cursor: str) -> OwnerPosition:
    try:
        created, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        position = (int(created), task_id)
    except (ValueError, binascii.Error, UnicodeError):
        position = (0, "")
    if not is_task_id(position[1]):
        raise BadUserInput("after is not a cursor this API gave", "after")
    return position


@strawberry.type
class RelayQueries:
    @strawberry.field(description="The object with this id: one of your tasks; null otherwise.")
    async def node(self, info: ContextInfo, id: strawberry.ID) -> Node | None:
        return await _task(info.context, str(id))

    @strawberry.field(description="node(id:) for each id, in order; null where none.")
    async def nodes(self, info: ContextInfo, ids: list[strawberry.ID]) -> list[Node | None]:
        context = info.context
        if len(ids) > context.limits.max_tasks_listed:
            raise BadUserInput(f"at most {context.limits.max_tasks_listed} ids", "ids")
        # A round trip each: few ids, and each read is the owner's alone.
        return [await _task(context, str(task_id)) for task_id in ids]

    @strawberry.field(
        description="Your own tasks, newest first, a page at a time (Relay cursor "
        "pagination; `tasks` is the same list without cursors)."
    )
    async def tasks_connection(
        self,
        info: ContextInfo,
        first: int = 20,
        after: str | None = None,
        status: TaskStatus | None = None,
    ) -> TaskConnection:
        context = info.context
        most = context.limits.max_tasks_listed
        if not 1 <= first <= most:
            raise BadUserInput(f"first must be from 1 to {most}", "first")
        start = None if after is None else position_of(after)
        page, more = await context.jobs.page(context.owner, status=status, limit=first, after=start)
        edges = [
            TaskEdge(cursor=cursor_of(position), node=task_from_record(record, context))
            for position, record in page
        ]
        return TaskConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=False,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


async def _task(context: Context, task_id: str) -> Task | None:
    if not is_task_id(task_id):
        return None
    record = await context.jobs.get(context.owner, task_id)
    return task_from_record(record, context) if record else None
