"""The scenario every ecosystem client runs, and how to read the report it prints.

Alice and Bob each hold one client (one socket) at the same time. Their tasks are
submitted over those sockets, one after another; then every task is followed by its
owner, all at once, each owner's subscriptions multiplexed on its one socket, and each
owner also subscribes to one of the other's tasks, and to myTasks (all of their own).
Only once every subscription has its first message is Alice's first task, a long one
holding the one worker, cancelled: the others run after it, one at a time, while every
subscription is open, so each subscription sees the other tasks' events go by on its
socket unless the server keeps them apart. At the end each task is read back with
`task(id)` over the socket.

The report (JSON; the same shape from tests/clients/ecosystem/scenario.mjs and
tests/clients/ecosystem_gql.py) lists each operation with what it received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.stack import ALICE_KEY, BOB_KEY, ROOT

KEYS = {"alice": ALICE_KEY, "bob": BOB_KEY}
OPERATIONS = ROOT / "tests" / "clients" / "ecosystem" / "operations.graphql"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}

# The cheapest task there is (as tests/clients/followed.py): tiny-random, 64x64.
CHEAP = {"prompt": "a red fox", "width": 64, "height": 64, "model": "tiny-random"}
# Long enough to hold the worker while every subscription starts; cancelled then.
BLOCKER_STEPS = 150
# Seconds the scenario waits for each phase (every first message; every end).
PHASE_TIMEOUT = 100


@dataclass(frozen=True)
class Planned:
    owner: str
    name: str
    steps: int
    cancel: bool = False

    def as_json(self) -> dict[str, Any]:
        image_generation = {**CHEAP, "steps": self.steps}
        return {
            "owner": self.owner,
            "name": self.name,
            "input": {"imageGeneration": image_generation},
            "cancel": self.cancel,
        }


# In the order they are submitted, and so run: owners interleaved, several steps each.
TASKS = (
    Planned("alice", "a0", BLOCKER_STEPS, cancel=True),
    Planned("bob", "b1", 3),
    Planned("alice", "a1", 4),
    Planned("bob", "b2", 2),
    Planned("alice", "a2", 3),
    Planned("alice", "a3", 2),
)
# Who subscribes to whose task: each owner to one of the other's, which must be NOT_FOUND.
FOREIGN = (("alice", "b1"), ("bob", "a1"))


def plan() -> dict[str, Any]:
    return {
        "timeout": PHASE_TIMEOUT,
        "tasks": [task.as_json() for task in TASKS],
        "foreign": [{"owner": owner, "task": name} for owner, name in FOREIGN],
    }


def expected_terminal(name: str) -> set[str]:
    """A cancelled task may have finished before the cancel reached it."""
    planned = next(task for task in TASKS if task.name == name)
    return {"CANCELLED", "SUCCEEDED"} if planned.cancel else {"SUCCEEDED"}


@dataclass(frozen=True)
class Report:
    raw: dict[str, Any]

    @property
    def client(self) -> str:
        return str(self.raw["client"])

    @property
    def failures(self) -> list[str]:
        return list(self.raw["failures"])

    def operations(self, kind: str, foreign: bool | None = None) -> Iterator[dict[str, Any]]:
        for operation in self.raw["operations"]:
            if operation["kind"] != kind:
                continue
            if foreign is not None and self.is_foreign(operation) != foreign:
                continue
            yield operation

    def is_foreign(self, operation: dict[str, Any]) -> bool:
        return bool(operation["owner"] != self.owner_of(operation["name"]))

    def owner_of(self, name: str) -> str:
        return next(task.owner for task in TASKS if task.name == name)

    def ids_of(self, owner: str) -> dict[str, str]:
        """Task id -> name, for the tasks `owner` submitted."""
        return {
            operation["task"]: operation["name"]
            for operation in self.operations("submit")
            if operation["owner"] == owner and operation["task"]
        }

    def names(self) -> dict[str, str]:
        """Task id -> name, for every submitted task."""
        return {task: name for owner in KEYS for task, name in self.ids_of(owner).items()}

    def shown(self, operations: list[dict[str, Any]] | None = None) -> str:
        """A readable account of `operations` (default: all), events as
        `name:STATUS:progress#sequence`, for an assertion's message."""
        names = self.names()
        lines = [f"client {self.client} ({self.raw['protocol']})"]
        lines += [f"  failure: {failure}" for failure in self.failures]
        for operation in self.raw["operations"] if operations is None else operations:
            head = f"  {operation['owner']} {operation['kind']} {operation['name']}"
            if operation["kind"] in ("subscription", "mytasks"):
                events = " ".join(
                    f"{names.get(event['id'], event['id'])}:{event['status']}:"
                    f"{event['progress']:.2f}#{event['sequence']}"
                    for event in operation["events"]
                )
                ended = (
                    "completed"
                    if operation["completed"]
                    else "errored"
                    if operation["errored"]
                    else "never ended"
                )
                lines.append(f"{head} [{ended}] errors={operation['errors']} events: {events}")
            else:
                answer = operation["socket"]
                lines.append(
                    f"{head} via {operation['via']}: errors={answer['errors']} "
                    f"data={json.dumps(answer['data'])[:200]}"
                )
        return "\n".join(lines)


def document() -> str:
    return OPERATIONS.read_text()
