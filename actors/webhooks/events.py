"""Which changes of a task are due to its webhook, as the worker publishes them.

COMPLETED is not here: the script that ends a task adds it (see actors.store.outbox),
on every path that ends one.
"""

from __future__ import annotations

import logging

from actors.records import TaskRecord, TaskStatus
from actors.store.outbox import WebhookOutbox

logger = logging.getLogger(__name__)

STARTING = frozenset({"starting", "restarting"})


def wanted(record: TaskRecord) -> frozenset[str]:
    """The WebhookEvent names `record`'s webhook asks for (none without a webhook)."""
    if not record.webhook_url or not record.webhook_events:
        return frozenset()
    return frozenset(record.webhook_events.split(","))


class WebhookEvents:
    """Called with every record a worker publishes: STARTED once per run, PROGRESS at
    most once per `interval_ms` per task (the latest state of the window wins)."""

    def __init__(self, outbox: WebhookOutbox, interval_ms: int) -> None:
        self._outbox = outbox
        self._interval_ms = interval_ms

    def __call__(self, record: TaskRecord) -> None:
        events = wanted(record)
        if not events or record.status is not TaskStatus.RUNNING:
            return
        try:
            if record.stage in STARTING:
                if "STARTED" in events:
                    self._outbox.enqueue(f"{record.id}:started:{record.attempts}")
            elif "PROGRESS" in events:
                self._outbox.enqueue(f"{record.id}:progress", self._interval_ms)
        except Exception as error:  # an event, not the task: the run goes on
            logger.warning("webhook event of task %s not recorded: %s", record.id, error)


def parse(name: str) -> tuple[str, str]:
    """(task id, WebhookEvent name) of a delivery's name."""
    task_id, event, *_ = name.split(":")
    return task_id, event.upper()
