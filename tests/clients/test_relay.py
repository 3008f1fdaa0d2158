"""The Relay conventions (`Task implements Node`, `node`, `nodes`, `tasksConnection`)
as a real client uses them: Apollo Client's own `relayStylePagination()` merging pages
fetched with `fetchMore`, and `node(id:)` through `possibleTypes`
(tests/clients/ecosystem/relay.mjs), against the live stack; Alice's and Bob's tasks
interleaved."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.client import Api
from tests.clients.ecosystem_plan import KEYS
from tests.clients.test_ecosystem import ecosystem_clients, run_script
from tests.stack import Stack

pytestmark = pytest.mark.timeout(600)

__all__ = ["ecosystem_clients"]  # the fixture, shared with test_ecosystem


def api_for(stack: Stack, key: str) -> Api:
    return Api(stack.http_url, stack.ws_url, key)


TINY = {"imageGeneration": {"prompt": "a page of tasks", "steps": 1, "width": 64, "height": 64}}
PAGE = """
query Page($first: Int!, $after: String, $status: TaskStatus) {
  tasksConnection(first: $first, after: $after, status: $status) {
    edges { cursor node { id status createdAt } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def test_apollo_pages_through_every_task_once_newest_first(
    clients_stack: Stack, ecosystem_clients: Path
) -> None:
    alice, bob = api_for(clients_stack, KEYS["alice"]), api_for(clients_stack, KEYS["bob"])
    mine, theirs = [], []
    for _ in range(4):  # interleaved: Bob's tasks sit between Alice's in time
        mine.append(alice.submit(TINY)["id"])
        theirs.append(bob.submit(TINY)["id"])
    mine.append(alice.submit(TINY)["id"])

    report = run_script(ecosystem_clients, clients_stack, "relay.mjs", "3", "alice")
    ids = report["ids"]
    assert len(ids) == len(set(ids)), "a task came twice"
    assert not set(theirs) & set(ids), "Bob's tasks in Alice's pages"
    # Submitted after the first page: newer than every cursor, so in no later page.
    assert report["submitted"] not in ids
    # Alice's tasks of this test, newest first, with none skipped in between.
    assert [task_id for task_id in ids if task_id in mine] == mine[::-1]
    assert ids[: len(mine)] == mine[::-1]
    assert report["pages"][:-1] == [3] * (len(report["pages"]) - 1)
    assert len(report["pages"]) == math.ceil(len(ids) / 3)
    node = report["node"]
    assert (node["__typename"], node["id"], node["kind"]) == ("Task", ids[0], "IMAGE_GENERATION")
    assert node["stageCode"] is not None
    assert report["unknown"] is None


def test_cursors_filter_and_bad_arguments(clients_stack: Stack) -> None:
    alice = api_for(clients_stack, KEYS["alice"])
    submitted = [alice.submit(TINY)["id"] for _ in range(3)]
    first = alice.data(PAGE, first=2)["tasksConnection"]
    assert [edge["node"]["id"] for edge in first["edges"]] == submitted[::-1][:2]
    assert [node["id"] for node in first["nodes"]] == submitted[::-1][:2]
    info = first["pageInfo"]
    assert info["hasNextPage"] and not info["hasPreviousPage"]
    assert (info["startCursor"], info["endCursor"]) == (
        first["edges"][0]["cursor"],
        first["edges"][-1]["cursor"],
    )
    second = alice.data(PAGE, first=1, after=info["endCursor"])["tasksConnection"]
    assert [edge["node"]["id"] for edge in second["edges"]] == [submitted[0]]

    # A status filter pages over that status only.
    ended = alice.wait_for(submitted[1], lambda task: task["finishedAt"] is not None)
    alike = alice.data(PAGE, first=50, status=ended["status"])["tasksConnection"]
    assert submitted[1] in [edge["node"]["id"] for edge in alike["edges"]]
    assert {edge["node"]["status"] for edge in alike["edges"]} == {ended["status"]}
    others = "FAILED" if ended["status"] == "SUCCEEDED" else "SUCCEEDED"
    unlike = alice.data(PAGE, first=50, status=others)["tasksConnection"]
    assert submitted[1] not in [edge["node"]["id"] for edge in unlike["edges"]]

    for variables, field in (
        ({"first": 0}, "first"),
        ({"first": 10_000}, "first"),
        ({"first": 2, "after": "not-a-cursor"}, "after"),
        ({"first": 2, "after": "MTIzOmFiYw=="}, "after"),  # base64 of "123:abc"
    ):
        errors = alice.execute(PAGE, **variables)["errors"]
        assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in errors] == [
            ("BAD_USER_INPUT", field)
        ], errors

    # nodes(ids:) answers in order, null for what is not the caller's.
    bob_task = api_for(clients_stack, KEYS["bob"]).submit(TINY)["id"]
    found = alice.data(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        ids=[submitted[2], bob_task, "nonsense", submitted[0]],
    )["nodes"]
    assert found == [{"id": submitted[2]}, None, None, {"id": submitted[0]}]
