"""The GraphQL clients frontends use, each as it is used by default, against a live
stack: several `taskProgress` subscriptions multiplexed on one socket, Alice's and
Bob's sockets at once, the submit mutation and `task(id)` over the socket too
(tests/clients/ecosystem_plan.py tells the scenario; GitHub issue #12).

Node clients (tests/clients/ecosystem/, `npm ci` from its package-lock.json):
graphql-ws's `createClient`, Apollo Client with `GraphQLWsLink`, urql with
`subscriptionExchange`, subscriptions-transport-ws's `SubscriptionClient` (the legacy
graphql-ws protocol). Python: gql's `WebsocketsTransport` on either subprotocol. Each
client runs the scenario once; the tests below judge its report.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients import ecosystem_gql
from tests.clients.ecosystem_plan import KEYS, TERMINAL, Report, expected_terminal, plan
from tests.clients.npm import ECOSYSTEM, NpmInstall
from tests.stack import Stack

NODE_CLIENTS = ("graphql-ws", "apollo", "urql", "subscriptions-transport-ws")
GQL_SUBPROTOCOLS = ("graphql-transport-ws", "graphql-ws")
CLIENTS = (*NODE_CLIENTS, *(f"gql-{subprotocol}" for subprotocol in GQL_SUBPROTOCOLS))

# Starting the stack, installing the packages and one client's whole scenario (two
# phases of at most ecosystem_plan.PHASE_TIMEOUT each) all fit in one test's time.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def ecosystem_clients(ecosystem_npm_install: NpmInstall) -> Path:
    """tests/clients/ecosystem with its locked packages installed."""
    problem = ecosystem_npm_install.wait()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return ECOSYSTEM


def run_node(client: str, folder: Path, stack: Stack) -> dict[str, Any]:
    env = {
        **os.environ,
        "ATELIER_URL": stack.ws_url,
        "ATELIER_HTTP_URL": f"{stack.http_url}/graphql",
        "ATELIER_KEYS": json.dumps(KEYS),
    }
    run = subprocess.run(
        ["node", "run.mjs", client, json.dumps(plan())],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    shown = f"node run.mjs {client}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, f"{shown}\n{stack.logs()}"
    report: dict[str, Any] = json.loads(run.stdout)
    return report


@pytest.fixture(scope="module", params=CLIENTS)
def report(request: pytest.FixtureRequest, clients_stack: Stack) -> Report:
    """One client's run of the scenario against the stack."""
    client: str = request.param
    if client in NODE_CLIENTS:
        folder: Path = request.getfixturevalue("ecosystem_clients")
        raw = run_node(client, folder, clients_stack)
    else:
        subprotocol = client.removeprefix("gql-")
        ws_url, http_url = clients_stack.ws_url, f"{clients_stack.http_url}/graphql"
        raw = ecosystem_gql.run(subprotocol, plan(), KEYS, ws_url, http_url)
    return Report(raw)


def test_every_operation_ends_in_time(report: Report) -> None:
    assert report.failures == [], report.shown()


def test_submit_cancel_and_task_queries_are_answered_over_the_socket(report: Report) -> None:
    for operation in [*report.operations("submit"), *report.operations("cancel")]:
        assert operation["via"] == "socket", report.shown([operation])
        assert operation["socket"]["errors"] == [], report.shown([operation])
    own = list(report.operations("query", foreign=False))
    assert own, report.shown()
    for operation in own:
        assert operation["socket"]["errors"] == [], report.shown([operation])
        assert operation["data"] is not None, report.shown([operation])
        assert operation["data"]["id"] == operation["task"], report.shown([operation])
    for operation in report.operations("query", foreign=True):
        assert operation["socket"]["errors"] == [], report.shown([operation])
        assert operation["data"] is None, report.shown([operation])  # null: not yours


def test_each_multiplexed_subscription_receives_only_its_own_task(report: Report) -> None:
    followed = list(report.operations("subscription", foreign=False))
    assert len(followed) == len(report.names()), report.shown()
    strays = [
        operation
        for operation in followed
        if any(event["id"] != operation["task"] for event in operation["events"])
    ]
    assert strays == [], report.shown(strays)


def test_each_subscription_ends_with_its_own_terminal_status(report: Report) -> None:
    for operation in report.operations("subscription", foreign=False):
        shown = report.shown([operation])
        assert operation["completed"], shown
        assert operation["errors"] == [], shown
        own = [event for event in operation["events"] if event["id"] == operation["task"]]
        assert own, shown
        assert own[-1] is operation["events"][-1], shown  # nothing after its own end
        statuses = [event["status"] for event in own]
        assert statuses[-1] in expected_terminal(operation["name"]), shown
        assert not TERMINAL & set(statuses[:-1]), shown  # one terminal event, the last
        progress = [event["progress"] for event in own]
        assert progress == sorted(progress), shown  # never decreases


def test_a_foreign_task_is_not_found_and_none_of_its_events_reach_the_subscriber(
    report: Report,
) -> None:
    foreign = list(report.operations("subscription", foreign=True))
    assert foreign, report.shown()
    for operation in foreign:
        shown = report.shown([operation])
        assert operation["events"] == [], shown
        assert [error["code"] for error in operation["errors"]] == ["NOT_FOUND"], shown
        assert operation["errored"] or operation["completed"], shown
    for owner in KEYS:
        others = set(report.names()) - set(report.ids_of(owner))
        leaked = [
            operation
            for operation in report.raw["operations"]
            if operation["owner"] == owner
            and operation["kind"] == "subscription"
            and any(event["id"] in others for event in operation["events"])
        ]
        assert leaked == [], report.shown(leaked)
