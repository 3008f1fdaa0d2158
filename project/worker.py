"""The Dramatiq worker entry point: `dramatiq project.worker --processes 1 --threads 1`.

One process per GPU, one thread: a process holds its pipelines warm and runs one
task at a time. Configuration comes from the environment, as for the web process.
"""

from __future__ import annotations

import functools
import logging

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer

from actors.broker import declare_actors, make_broker
from actors.events import ThreadedPublisher
from actors.execution import TaskRunner
from actors.preload import PreloadPipelines
from actors.store import TaskStore
from project.config import load

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
config = load()
broker = make_broker(config.jobs)


@functools.cache
def runner() -> TaskRunner:
    # Built on first use, inside the forked worker process, never in the parent.
    jobs = config.jobs
    store = TaskStore(
        redis.Redis.from_url(jobs.redis_url), prefix=jobs.key_prefix, ttl=jobs.result_ttl
    )
    layer = RedisPubSubChannelLayer(hosts=[jobs.redis_url], prefix=config.channel_prefix)
    publisher = ThreadedPublisher(layer)
    return TaskRunner(jobs, store, publisher.publish)


broker.add_middleware(
    PreloadPipelines(
        config.jobs.preload,
        lambda kind: runner().preload(kind),
        capacity=config.jobs.pipeline_cache_size,
    )
)
actors = declare_actors(broker, config.jobs, lambda task_id: runner().run(task_id))
