"""The web process's long-lived objects, built once from configuration."""

from __future__ import annotations

import functools
import logging

import redis
import strawberry
from channels.layers import get_channel_layer

from actors.admission import Admission
from actors.broker import declare_actors, make_broker
from actors.jobs import JobSystem
from actors.store import TaskStore
from graph.links import LinkSigner
from graph.schema import make_schema
from project.config import Config

logger = logging.getLogger("atelier")


@functools.cache
def config() -> Config:
    from django.conf import settings

    return settings.ATELIER


@functools.cache
def store() -> TaskStore:
    jobs = config().jobs
    client = redis.Redis.from_url(jobs.redis_url, health_check_interval=30)
    return TaskStore(client, prefix=jobs.key_prefix, ttl=jobs.result_ttl)


@functools.cache
def job_system() -> JobSystem:
    settings = config().jobs
    broker = make_broker(settings)

    def never_here(task_id: str) -> None:
        raise RuntimeError("tasks run in worker processes, not in the web process")

    actors = declare_actors(broker, settings, never_here)
    admission = Admission(store().client, settings.admission, prefix=settings.key_prefix)
    return JobSystem(store(), actors, get_channel_layer(), admission)


@functools.cache
def schema() -> strawberry.Schema:
    return make_schema(config().query_limits)


@functools.cache
def link_signer() -> LinkSigner:
    return LinkSigner(config().secret_key.encode())


def announce() -> None:
    cfg = config()
    if not cfg.api_keys:
        logger.warning(
            "no API keys configured (ATELIER_API_KEYS): every caller is one anonymous user; "
            "fine for local development only"
        )
    if cfg.secret_key == "atelier-development-secret-change-me":
        logger.warning("ATELIER_SECRET_KEY is not set: result links use a development secret")
