"""The events the job system publishes on a task's channel-layer group: typed values,
and `publish`, the one way onto the channel layer.

Each event is a frozen dataclass with one `encode` (to the channel layer's message)
and one `decode` (from it); nothing else builds or reads these messages. Every
message names the group it was sent to (`GROUP_FIELD`): all operations of a
websocket share one channel, and delivery per operation goes by this field (see
project.edge.grouprouting).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.records import TaskRecord, from_hash, to_hash

GROUP_FIELD = "group"


def group_name(task_id: str) -> str:
    return f"task.{task_id}"


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

    def encode(self) -> dict[str, Any]:
        snapshot = to_hash(self.record)
        snapshot.pop("params", None)
        return {"type": self.TYPE, "task": snapshot, GROUP_FIELD: self.group}

    @classmethod
    def decode(cls, message: Mapping[str, Any]) -> TaskChanged:
        return cls(from_hash(message["task"]))

    @staticmethod
    def identity(message: Mapping[str, Any]) -> tuple[str, str]:
        """(task id, sequence number) of an encoded event, read without decoding it."""
        snapshot = message["task"]
        return snapshot.get("id", ""), snapshot.get("seq", "")


async def publish(layer: Any, record: TaskRecord) -> None:
    """Publish that `record` changed to its task's group on the channel `layer`."""
    event = TaskChanged(record)
    await layer.group_send(event.group, event.encode())
