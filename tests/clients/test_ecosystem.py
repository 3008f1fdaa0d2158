"""The GraphQL clients frontends use, each as it is used by default, against a live
stack: several `taskProgress` subscriptions multiplexed on one socket, Alice's and
Bob's sockets at once, the submit mutation and `task(id)` over the socket too
(tests/clients/ecosystem_plan.py tells the scenario; GitHub issue #12).

Node clients (tests/clients/ecosystem/, `npm ci` from its package-lock.json):
graphql-ws's `createClient`, Apollo Client with `GraphQLWsLink`, urql with
`subscriptionExchange`, subscriptions-transport-ws's `SubscriptionClient` (the legacy
graphql-ws protocol). Python: gql's `WebsocketsTransport` on either subprotocol. Each
client runs the scenario once; the tests below judge its report.

Uploads (GitHub issue #15): apollo-upload-client's `UploadHttpLink` under Apollo Client
sends Node's `File` and `Blob` as a GraphQL multipart request, and the same tasks inline
as base64 (tests/clients/ecosystem/uploads.mjs); the tests judge the requests it sent
and the tasks' results.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.api.scenarios import mask_of, picture
from tests.clients import ecosystem_gql
from tests.clients.ecosystem_plan import (
    KEYS,
    PHASE_TIMEOUT,
    TERMINAL,
    Report,
    expected_terminal,
    plan,
)
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
    return run_script(folder, stack, "run.mjs", client, json.dumps(plan()))


def run_script(folder: Path, stack: Stack, script: str, *arguments: str) -> dict[str, Any]:
    """`node <script> <arguments>` against the stack (the last argument is the plan):
    the JSON report it prints."""
    env = {
        **os.environ,
        "ATELIER_URL": stack.ws_url,
        "ATELIER_HTTP_URL": f"{stack.http_url}/graphql",
        "ATELIER_KEYS": json.dumps(KEYS),
    }
    run = subprocess.run(
        ["node", script, *arguments],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    command = " ".join(["node", script, *arguments[:-1]])
    shown = f"{command}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
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


def test_my_tasks_beside_them_gets_every_change_of_its_owners_tasks_and_no_other(
    report: Report,
) -> None:
    mine = list(report.operations("mytasks"))
    assert sorted(operation["owner"] for operation in mine) == sorted(KEYS), report.shown()
    for operation in mine:
        shown = report.shown([operation])
        assert operation["errors"] == [] and not operation["errored"], shown
        own = report.ids_of(operation["owner"])
        assert {event["id"] for event in operation["events"]} <= set(own), shown
        for task_id, name in own.items():
            events = [event for event in operation["events"] if event["id"] == task_id]
            if not events and "CANCELLED" in expected_terminal(name):
                continue  # the cancelled blocker may have ended before myTasks joined
            assert events, shown
            sequences = [event["sequence"] for event in events]
            assert sequences == sorted(set(sequences)), shown  # each task's in order
            statuses = [event["status"] for event in events]
            assert statuses[-1] in expected_terminal(name), shown
            assert not TERMINAL & set(statuses[:-1]), shown
            # The same end as the task's own subscription on the same socket.
            [followed] = [
                other
                for other in report.operations("subscription", foreign=False)
                if other["task"] == task_id
            ]
            assert followed["events"][-1]["sequence"] == sequences[-1], shown


# The uploads (uploads.mjs): one picture, not square, so that a result of its size can
# only come from it (inpainting keeps a size that is a multiple of 32), and an
# inpainting mask for it; the same seed either way.
UPLOAD_SIZE = (96, 64)
INPAINTING = {"prompt": "a fox", "steps": 4, "seed": 9, "refinePrompt": False}


def shown_upload(report: dict[str, Any]) -> str:
    """The report for an assertion's message, each image's base64 as its length."""

    def brief(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: f"<{len(item)} characters>" if key == "base64" else brief(item)
                for key, item in value.items()
            }
        return [brief(item) for item in value] if isinstance(value, list) else value

    return json.dumps(brief(report), indent=1)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def upload_images() -> dict[str, bytes]:
    return {
        "image": png_bytes(picture(UPLOAD_SIZE, seed=12)),
        "mask": png_bytes(mask_of(UPLOAD_SIZE, (8, 8, 40, 40))),
    }


@pytest.fixture(scope="module")
def upload_report(
    ecosystem_clients: Path, clients_stack: Stack, upload_images: dict[str, bytes]
) -> dict[str, Any]:
    """apollo-upload-client's run of tests/clients/ecosystem/uploads.mjs."""
    upload_plan = {
        **{name: base64.b64encode(data).decode() for name, data in upload_images.items()},
        "inpainting": INPAINTING,
        "timeout": PHASE_TIMEOUT,
    }
    return run_script(ecosystem_clients, clients_stack, "uploads.mjs", json.dumps(upload_plan))


def test_apollo_upload_client_sends_the_files_once_each_in_one_multipart_request(
    upload_report: dict[str, Any], upload_images: dict[str, bytes]
) -> None:
    shown = shown_upload(upload_report)
    assert upload_report["failures"] == [], shown
    uploaded, inline = upload_report["requests"][:2]
    assert uploaded["contentType"].startswith("multipart/form-data; boundary="), shown
    operations, file_map, *files = uploaded["parts"]
    assert [operations["name"], file_map["name"]] == ["operations", "map"], shown
    variables = json.loads(operations["value"])["variables"]
    assert variables["cutout"] == {"backgroundRemoval": {"imageFile": None}}, shown
    assert variables["inpaint"]["inpainting"]["imageFile"] is None, shown
    assert variables["inpaint"]["inpainting"]["maskFile"] is None, shown
    # The picture is both tasks' image: one part, two paths.
    paths = {part: sorted(at) for part, at in json.loads(file_map["value"]).items()}
    assert sorted(paths.values()) == [
        ["variables.cutout.backgroundRemoval.imageFile", "variables.inpaint.inpainting.imageFile"],
        ["variables.inpaint.inpainting.maskFile"],
    ], shown
    sent = {part["name"]: part for part in files}
    assert set(sent) == set(paths), shown
    for part, at in paths.items():
        which = "mask" if at == ["variables.inpaint.inpainting.maskFile"] else "image"
        assert sent[part]["size"] == len(upload_images[which]), shown
        assert sent[part]["type"] == "image/png", shown
    # Without files in the variables the same link sends plain JSON.
    assert inline["contentType"] == "application/json", shown


def test_tasks_run_on_the_uploaded_files_as_on_the_same_bytes_inline(
    upload_report: dict[str, Any],
) -> None:
    shown = shown_upload(upload_report)
    assert upload_report["failures"] == [], shown
    kinds = {"cutout": "BACKGROUND_REMOVAL", "inpaint": "INPAINTING"}
    for alias, kind in kinds.items():
        for how in ("uploaded", "inline"):
            name = f"{alias}-{how}"
            assert upload_report["submitted"][name]["kind"] == kind, shown
            assert upload_report["ended"][name]["status"] == "SUCCEEDED", shown
        uploaded, inline = (
            upload_report["results"][f"{alias}-{how}"]["result"]["images"]
            for how in ("uploaded", "inline")
        )
        assert [(image["width"], image["height"]) for image in uploaded] == [UPLOAD_SIZE], shown
        assert uploaded == inline, f"{alias}: the uploaded file gave another result"
