"""Dramatiq on Redis: the broker and one actor per task kind, each on its own queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from actors.config import JobSettings
from actors.kinds import SPECS
from actors.queues.consumer import DoorbellRedisBroker
from actors.records import TaskKind, TaskRecord

Actors = dict[TaskKind, dramatiq.Actor]


def make_broker(settings: JobSettings) -> DoorbellRedisBroker:
    client = settings.redis.client(socket_connect_timeout=5, health_check_interval=30)
    broker = DoorbellRedisBroker(client=client, namespace=settings.broker_namespace)
    dramatiq.set_broker(broker)
    return broker


class QueueKeys(NamedTuple):
    """Dramatiq's Redis keys for one queue (see dramatiq/brokers/redis/dispatch.lua)."""

    ready: str  # list of the ids of messages no worker has fetched yet
    delayed: str  # the same for its delay queue (messages held back until a time)
    dead_letters: str  # sorted set of the ids of dead-lettered messages


def message_keys(namespace: str, queue: str) -> QueueKeys:
    return QueueKeys(
        f"{namespace}:{queue}", f"{namespace}:{dq_name(queue)}", f"{namespace}:{queue}.XQ"
    )


def actor_name(kind: TaskKind) -> str:
    """The Dramatiq actor running tasks of `kind` ("atelier.image_generation"): by kind,
    since kinds sharing loaded weights share a queue."""
    return f"atelier.{kind.value.lower()}"


def declare_actors(
    broker: RedisBroker, settings: JobSettings, run: Callable[[str], None]
) -> Actors:
    """One actor per kind, all calling `run(task_id)`.

    No retries: a pipeline that failed would fail again, and the outcome is
    already written to the task. The time limit makes Dramatiq raise
    `TimeLimitExceeded` inside the task, which the runner records as TIMEOUT.
    """
    actors: Actors = {}
    for queue in settings.queues:  # the model queues too, so a worker consumes them
        broker.declare_queue(queue)
    for kind, spec in SPECS.items():

        def perform(task_id: str) -> None:
            run(task_id)

        perform.__name__ = f"run_{kind.value.lower()}"
        actors[kind] = dramatiq.actor(
            actor_name=actor_name(kind),
            queue_name=spec.queue,
            broker=broker,
            max_retries=0,
            time_limit=settings.time_limits[kind] * 1000,
        )(perform)
    return actors


def send_task(actors: Actors, record: TaskRecord) -> None:
    """Queue the message that runs `record`, on its own queue (its kind's, or its
    model's: the kind's actor runs either)."""
    actor = actors[record.kind]
    message = actor.message(record.id)
    if record.queue != actor.queue_name:
        message = message.copy(queue_name=record.queue)
    actor.broker.enqueue(message)
