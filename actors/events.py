"""The events the job system publishes on a task's channel-layer group, and on its
owner's (`owner_group_name`, followed by `myTasks`): typed values, and `publish`, the
one way onto the channel layer.

Each event is a frozen dataclass with one `encode` (to the channel layer's message)
and one `decode` (from it); nothing else builds or reads these messages. Every
message names the group it was sent to (`GROUP_FIELD`): all operations of a
websocket share one channel, and delivery per operation goes by this field (see
project.edge.grouprouting).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.records import TaskRecord, from_hash, to_hash

GROUP_FIELD = "group"


def group_name(task_id: str) -> str:
    return f"task.{task_id}"


def owner_group_name(owner: str) -> str:
    """The group of every event of `owner`'s tasks. An owner's name may hold any
    character and a group name only letters, digits, `-_.` and under 100 of them:
    the name's digest stands for it (followers still check each record's owner)."""
    return "owner." + hashlib.sha256(owner.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """A task changed (status, stage, step, preview, result or error): its new record.

    Encoded as the record's snapshot without its input params, which subscribers
    never see.
    """

    record: TaskRecord

    TYPE: ClassVar[str] = "task.event"

    @property
    def group(self) -> str:
        return group_name(self.record.id)

    @property
    def owner_group(self) -> str:
        return owner_group_name(self.record.owner)

    def encode(self, group: str | None = None) -> dict[str, Any]:
        """The message for `group` (by default the task's own)."""
        snapshot = to_hash(self.record)
        snapshot.pop("params", None)
        return {"type": self.TYPE, "task": snapshot, GROUP_FIELD: group or self.group}

    @classmethod
    def decode(cls, message: Mapping[str, Any]) -> TaskChanged:
        return cls(from_hash(message["task"]))

    @staticmethod
    def identity(message: Mapping[str, Any]) -> tuple[str, str]:
        """(task id, sequence number) of an encoded event, read without decoding it."""
        snapshot = message["task"]
        return snapshot.get("id", ""), snapshot.get("seq", "")


async def publish(layer: Any, record: TaskRecord) -> None:
    """Publish that `record` changed to its task's group and its owner's group on the
    channel `layer`."""
    event = TaskChanged(record)
    message = event.encode()
    await layer.group_send(event.group, message)
    await layer.group_send(event.owner_group, {**message, GROUP_FIELD: event.owner_group})


async def publish_to_owner(layer: Any, record: TaskRecord) -> None:
    """Publish `record` to its owner's group only: a task just created, which no one
    can follow by its id yet."""
    event = TaskChanged(record)
    await layer.group_send(event.owner_group, event.encode(event.owner_group))
