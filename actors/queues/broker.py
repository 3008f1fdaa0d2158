"""Dramatiq on Redis: the broker and one actor per task kind, each on its own queue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from dramatiq.middleware import TimeLimit

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


Run = Callable[[str, str | None], None]


def declare_actors(broker: RedisBroker, settings: JobSettings, run: Run) -> Actors:
    """One actor per kind, all calling `run(task_id, queue)`: start the best task
    waiting in `queue` (see `actors.store.dispatch`); `task_id`, the task whose
    submission sent the message, is a hint for the logs, and the queue of messages
    sent before messages named it.

    No retries: a pipeline that failed would fail again, and the outcome is
    already written to the task. The time limit makes Dramatiq raise
    `TimeLimitExceeded` inside the task, which the runner records as TIMEOUT; it
    counts from the start of the task the message ran (`restart_time_limit`), whose
    kind may differ from the message's where kinds share a queue.
    """
    actors: Actors = {}
    for queue in settings.queues:  # the model queues too, so a worker consumes them
        broker.declare_queue(queue)
    for kind, spec in SPECS.items():

        def perform(task_id: str, queue: str | None = None) -> None:
            run(task_id, queue)

        perform.__name__ = f"run_{kind.value.lower()}"
        actors[kind] = dramatiq.actor(
            actor_name=actor_name(kind),
            queue_name=spec.queue,
            broker=broker,
            max_retries=0,
            time_limit=max(settings.time_limits.values()) * 1000,
        )(perform)
    return actors


def send_task(actors: Actors, record: TaskRecord) -> None:
    """Queue a message that starts the best task of `record`'s queue (its kind's, or
    its model's: the kind's actor runs either), one per task queued."""
    actor = actors[record.kind]
    message = actor.message(record.id, record.queue)
    if record.queue != actor.queue_name:
        message = message.copy(queue_name=record.queue)
    actor.broker.enqueue(message)


def restart_time_limit(broker: RedisBroker) -> Callable[[float], None]:
    """A function that sets the time limit of the message this thread processes to
    `seconds` from now (Dramatiq's TimeLimit, set when the message began)."""
    managers = [m.manager for m in broker.middleware if isinstance(m, TimeLimit)]

    def restart(seconds: float) -> None:
        for manager in managers:
            manager.add_timeout(threading.get_ident(), seconds * 1000)

    return restart
