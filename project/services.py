"""The web process's long-lived objects, built once from configuration."""

from __future__ import annotations

import functools
import logging
from typing import Any

import redis
import redis.asyncio
import strawberry
from channels.layers import get_channel_layer
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from actors.client.admission import Admission
from actors.client.ownerjobs import OwnerJobSystem
from actors.queues.broker import declare_actors, make_broker
from actors.store.tasks import TaskStore
from graph.auth import Operators
from graph.links import LinkSigner
from graph.schema import make_schema
from project.config import Config
from project.edge.fanout import SharedEventExecutor
from project.pagedocuments import page_documents
from project.redispolicy import fail_fast

logger = logging.getLogger("atelier")


@functools.cache
def config() -> Config:
    from django.conf import settings

    return settings.ATELIER


def redis_client(**options: Any) -> redis.Redis:
    """A Redis client that fails fast during an outage and reconnects when Redis is back
    (see `project.redispolicy`)."""
    return config().jobs.redis.client(**fail_fast(Retry), **options)


@functools.cache
def store() -> TaskStore:
    jobs = config().jobs
    client = redis_client(health_check_interval=30)
    return TaskStore(
        client, prefix=jobs.key_prefix, ttl=jobs.result_ttl, dispatch_grace=jobs.dispatch_grace
    )


@functools.cache
def job_system() -> OwnerJobSystem:
    settings = config().jobs
    broker = make_broker(settings)

    def never_here(task_id: str, queue: str | None) -> None:
        raise RuntimeError("tasks run in worker processes, not in the web process")

    actors = declare_actors(broker, settings, never_here)
    admission = Admission(store().client, settings.admission, prefix=settings.key_prefix)
    return OwnerJobSystem(store(), actors, get_channel_layer(), admission, settings)


READY_TIMEOUT = 1.0  # seconds Redis has to answer each of /readyz's reads


@functools.cache
def readiness_probe() -> redis.asyncio.Redis:
    """An asyncio client for /readyz: PING and a count of live workers, no retries,
    a short deadline."""
    return config().jobs.redis.async_client(
        socket_connect_timeout=READY_TIMEOUT,
        socket_timeout=READY_TIMEOUT,
        retry=AsyncRetry(NoBackoff(), 0),
    )


class _Lifecycle:
    shutting_down = False


def begin_shutdown() -> None:
    """From here on /readyz answers 503, so a load balancer sends nothing new here."""
    _Lifecycle.shutting_down = True


def shutting_down() -> bool:
    return _Lifecycle.shutting_down


@functools.cache
def schema() -> strawberry.Schema:
    cfg = config()
    operators = Operators(names=frozenset(cfg.admin_keys.values()), everyone=not cfg.api_keys)
    return make_schema(
        cfg.query_limits,
        operators,
        executor=SharedEventExecutor,
        # The pages this node serves send documents of their own: trusted as shipped.
        trusted=cfg.trusted_documents and cfg.trusted_documents.including(page_documents()),
    )


@functools.cache
def link_signer() -> LinkSigner:
    return LinkSigner(config().secret_key.encode())


def announce() -> None:
    cfg = config()
    if not cfg.api_keys:
        logger.warning(
            "no API keys configured (ATELIER_API_KEYS, ATELIER_ADMIN_KEYS): every caller is "
            "one anonymous user, who also sees the operators' view (queues, everyone's "
            "running tasks, workers); fine for local development only"
        )
    if cfg.secret_key == "atelier-development-secret-change-me":
        logger.warning("ATELIER_SECRET_KEY is not set: result links use a development secret")
