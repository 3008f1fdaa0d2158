"""The Dramatiq worker entry point: `dramatiq project.worker --processes 1 --threads 1`.

One process per GPU, one thread: a process holds its pipelines warm and runs one
task at a time. Configuration comes from the environment, as for the web process.
On SIGTERM the running task gets ATELIER_SHUTDOWN_GRACE seconds, then goes back to
the queue; give Dramatiq's --worker-shutdown-timeout (ms) some margin beyond it.
"""

from __future__ import annotations

import functools
import os

from channels_redis.pubsub import RedisPubSubChannelLayer

from actors.queues.broker import declare_actors, make_broker, restart_time_limit, send_task
from actors.records import TaskRecord
from actors.store.outbox import WebhookOutbox
from actors.store.registry import CurrentTask, WorkerRegistry
from actors.store.runtimes import RunTimes
from actors.store.tasks import TaskStore
from actors.webhooks.deliverer import Deliverer
from actors.webhooks.dispatcher import DispatchWebhooks, WebhookDispatcher, declare_webhook_actor
from actors.webhooks.events import WebhookEvents
from actors.worker.lifecycle import WorkerLifecycle
from actors.worker.preload import PreloadPipelines
from actors.worker.presence import WorkerPresence
from actors.worker.publisher import ThreadedPublisher
from actors.worker.runner import TaskRunner
from actors.worker.sweeper import Maintenance, Sweeper
from project.config import load
from project.logformat import configure_worker, log_format
from project.webhooklinks import WebhookLinks
from project.workermetrics import WorkerExposition

configure_worker(log_format(os.environ))
config = load()
broker = make_broker(config.jobs)
exposition = WorkerExposition.from_env(os.environ)
if exposition.enabled:
    # First: a worker process points its metrics at their files before anything else boots.
    broker.add_middleware(exposition.middleware())


@functools.cache
def store() -> TaskStore:
    # Built on first use, inside the forked worker process, never in the parent.
    jobs = config.jobs
    client = jobs.redis.client(
        socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
    )
    return TaskStore(
        client,
        prefix=jobs.key_prefix,
        ttl=jobs.result_ttl,
        lease_seconds=jobs.lease_seconds,
        dispatch_grace=jobs.dispatch_grace,
    )


@functools.cache
def publisher() -> ThreadedPublisher:
    layer = RedisPubSubChannelLayer(
        hosts=[config.jobs.redis.channel_layer_host()], prefix=config.channel_prefix
    )
    return ThreadedPublisher(layer)


def send(record: TaskRecord) -> None:
    send_task(actors, record)


@functools.cache
def outbox() -> WebhookOutbox:
    hooks = config.jobs.webhooks
    # A delivery's message is kept for its retries (about their sum) and then some.
    keep = int(hooks.backoff_cap * (hooks.retries + 1) + 3600)
    return WebhookOutbox(store().client, prefix=config.jobs.key_prefix, ttl=keep)


@functools.cache
def webhook_events() -> WebhookEvents:
    return WebhookEvents(outbox(), config.jobs.webhooks.progress_interval_ms)


def publish(record: TaskRecord) -> None:
    """A change goes to the task's subscribers and, when it asks for it, its webhook."""
    webhook_events()(record)
    publisher().publish(record)


@functools.cache
def deliverer() -> Deliverer:
    return Deliverer(outbox(), store().get, config.jobs.webhooks, WebhookLinks.from_config(config))


@functools.cache
def runner() -> TaskRunner:
    return TaskRunner(
        config.jobs,
        store(),
        publish,
        send,
        restart_time_limit=restart_time_limit(broker),
        on_start=lambda records: presence.running(
            [CurrentTask(r.id, r.kind, call_size=len(records)) for r in records]
        ),
        runtimes=RunTimes(store().client, prefix=config.jobs.key_prefix),
    )


def sweeper() -> Sweeper:
    jobs = config.jobs
    maintenance = Maintenance(
        store(),
        send,
        publish,
        max_attempts=jobs.max_attempts,
        recover_messages=broker.recover_from_dead_workers,
    )
    return Sweeper(maintenance, every=jobs.sweep_every)


def registry() -> WorkerRegistry:
    jobs = config.jobs
    return WorkerRegistry(
        store().client, prefix=jobs.key_prefix, stale_after=jobs.worker_stale_after
    )


broker.add_middleware(
    PreloadPipelines(
        config.jobs.preload,
        lambda kind: runner().preload(kind),
        capacity=config.jobs.pipeline_cache_size,
    )
)
broker.add_middleware(
    WorkerLifecycle(
        sweeper,
        drain=lambda: runner().drain(config.jobs.shutdown_grace),
        flush=lambda: runner().flush(),
    )
)
presence = WorkerPresence(
    registry,
    loaded=lambda: runner().cache.loaded(),
    every=config.jobs.heartbeat_every,
    identity=lambda: runner().worker,
)
broker.add_middleware(presence)
actors = declare_actors(broker, config.jobs, lambda hint, queue: runner().run(hint, queue))
# On its own queue: a worker on default queues consumes it too; see README, Webhooks.
webhook_actor = declare_webhook_actor(
    broker, lambda name, token: deliverer().deliver(name, token), config.jobs.webhooks
)
broker.add_middleware(
    DispatchWebhooks(lambda: WebhookDispatcher(outbox(), webhook_actor.send, config.jobs.webhooks))
)
