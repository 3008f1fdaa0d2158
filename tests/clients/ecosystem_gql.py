"""The ecosystem scenario (tests/clients/ecosystem_plan.py) over Python's `gql`: one
`WebsocketsTransport` per owner, on the subprotocol asked for, every operation on it,
as clients/python/example.py uses it. Returns the same report as the Node clients."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.clients.ecosystem_plan import TERMINAL, document

Record = dict[str, Any]
DOCUMENT = document()


def formatted(errors: Any) -> list[Record]:
    return [
        {"message": str(error.get("message")), "code": (error.get("extensions") or {}).get("code")}
        for error in errors or []
    ]


def failed(error: BaseException) -> list[Record]:
    if isinstance(error, TransportQueryError):
        return formatted(error.errors) or [{"message": str(error), "code": None}]
    return [{"message": f"{type(error).__name__}: {error}", "code": None}]


def request(operation: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(DOCUMENT, operation_name=operation, variable_values=variables)


async def execute(session: AsyncClientSession, operation: str, **variables: Any) -> Record:
    try:
        return {"data": await session.execute(request(operation, **variables)), "errors": []}
    except (TransportError, OSError) as error:
        data = error.data if isinstance(error, TransportQueryError) else None
        return {"data": data, "errors": failed(error)}


async def over_http(url: str, key: str, operation: str, **variables: Any) -> Record:
    """For a submit or cancel the socket failed: the rest of the scenario still runs."""
    body = {"query": DOCUMENT, "operationName": operation, "variables": variables}
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
    result = answer.json()
    return {"data": result.get("data"), "errors": formatted(result.get("errors"))}


async def follow(session: AsyncClientSession, record: Record, first: asyncio.Event) -> None:
    try:
        async for data in session.subscribe(request("TaskProgress", id=record["task"])):
            record["events"].append(data["taskProgress"])
            first.set()
        record["completed"] = True
    except (TransportError, OSError) as error:
        record["errors"].extend(failed(error))
        record["errored"] = True
    finally:
        first.set()


async def follow_all(
    session: AsyncClientSession, record: Record, ids: list[str], first: asyncio.Event
) -> None:
    """myTasks, until each of `ids` ended in it (it never completes by itself)."""

    def done() -> bool:
        return all(
            any(e["id"] == i and e["status"] in TERMINAL for e in record["events"]) for i in ids
        )

    try:
        async for data in session.subscribe(request("MyTasks")):
            record["events"].append(data["myTasks"])
            first.set()
            if done():
                break
    except (TransportError, OSError) as error:
        record["errors"].extend(failed(error))
        record["errored"] = True
    finally:
        first.set()


class Scenario:
    def __init__(self, subprotocol: str, keys: dict[str, str], ws_url: str, http_url: str):
        self.subprotocol = subprotocol
        self.keys = keys
        self.ws_url = ws_url
        self.http_url = http_url
        self.sessions: dict[str, AsyncClientSession] = {}
        self.report: Record = {
            "client": "gql",
            "protocol": subprotocol,
            "failures": [],
            "operations": [],
        }

    async def within(self, seconds: float, awaitable: Any, what: str) -> None:
        try:
            await asyncio.wait_for(awaitable, seconds)
        except TimeoutError:
            self.report["failures"].append(f"timed out after {seconds} s waiting for {what}")

    async def send(
        self, owner: str, kind: str, name: str, operation: str, field: str, **variables: Any
    ) -> Record:
        answer = await execute(self.sessions[owner], operation, **variables)
        task = ((answer["data"] or {}).get(field) or {}).get("id")
        record = {"owner": owner, "kind": kind, "name": name, "socket": answer, "via": "socket"}
        if task is None and kind != "query":
            record["via"] = "http"
            fallback = await over_http(self.http_url, self.keys[owner], operation, **variables)
            task = ((fallback["data"] or {}).get(field) or {}).get("id")
        record["task"] = task
        self.report["operations"].append(record)
        return record

    async def run(self, plan: Record) -> Record:
        timeout = plan["timeout"]
        async with AsyncExitStack() as stack:
            for owner, key in self.keys.items():
                transport = WebsocketsTransport(
                    url=self.ws_url,
                    init_payload={"Authorization": f"Bearer {key}"},
                    subprotocols=[self.subprotocol],
                )
                client = Client(transport=transport)
                self.sessions[owner] = await stack.enter_async_context(client)
            try:
                await self.steps(plan, timeout)
            except Exception as error:
                self.report["failures"].append(f"{type(error).__name__}: {error}")
        return self.report

    async def steps(self, plan: Record, timeout: float) -> None:
        ids: dict[str, str] = {}
        for task in plan["tasks"]:
            submitted = await self.send(
                task["owner"],
                "submit",
                task["name"],
                "SubmitTask",
                "submitTask",
                input=task["input"],
            )
            if submitted["task"]:
                ids[task["name"]] = submitted["task"]

        followers: list[asyncio.Task[None]] = []
        firsts: list[asyncio.Event] = []
        wanted = [(task["owner"], task["name"]) for task in plan["tasks"]]
        wanted += [(entry["owner"], entry["task"]) for entry in plan["foreign"]]
        for owner, name in wanted:
            if name not in ids:
                continue
            record = {
                "owner": owner,
                "kind": "subscription",
                "name": name,
                "task": ids[name],
                "events": [],
                "errors": [],
                "completed": False,
                "errored": False,
            }
            self.report["operations"].append(record)
            firsts.append(asyncio.Event())
            followers.append(asyncio.create_task(follow(self.sessions[owner], record, firsts[-1])))
        for owner in self.keys:
            awaited = [
                ids[task["name"]]
                for task in plan["tasks"]
                if task["owner"] == owner and not task["cancel"] and task["name"] in ids
            ]
            record = {
                "owner": owner,
                "kind": "mytasks",
                "name": owner,
                "events": [],
                "errors": [],
                "completed": False,
                "errored": False,
            }
            self.report["operations"].append(record)
            firsts.append(asyncio.Event())
            session = self.sessions[owner]
            followers.append(asyncio.create_task(follow_all(session, record, awaited, firsts[-1])))
        try:
            everyone = asyncio.gather(*(first.wait() for first in firsts))
            await self.within(timeout, everyone, "every subscription's first message")
            for task in plan["tasks"]:
                if task["cancel"] and task["name"] in ids:
                    await self.send(
                        task["owner"],
                        "cancel",
                        task["name"],
                        "CancelTask",
                        "cancelTask",
                        id=ids[task["name"]],
                    )
            ends = asyncio.gather(*(asyncio.shield(f) for f in followers))
            await self.within(timeout, ends, "every subscription's end")
        finally:
            for follower in followers:
                follower.cancel()

        for owner, name in wanted:
            if name in ids:
                record = await self.send(owner, "query", name, "Task", "task", id=ids[name])
                record["task"] = ids[name]
                record["data"] = (record["socket"]["data"] or {}).get("task")


def run(subprotocol: str, plan: Record, keys: dict[str, str], ws_url: str, http_url: str) -> Record:
    return asyncio.run(Scenario(subprotocol, keys, ws_url, http_url).run(plan))
