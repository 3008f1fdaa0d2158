"""GET /metrics: this web node's metrics and the cluster's, for Prometheus.

This node's own: GraphQL websockets open, `taskProgress` subscriptions following a
task, Redis calls of the job system that failed for an outage (`actors.metrics`),
and the process's CPU, memory and garbage collection (prometheus_client's defaults).

The cluster's, read from Redis at each scrape in one pipelined round trip, O(1) per
queue: tasks waiting per queue, messages waiting for a consumer and dead-lettered in
Dramatiq's queues, tasks running (their leases), tasks submitted and ended by
kind and status (`actors.store.counts.TaskCounts`), and Redis's memory against its
maxmemory and the keys it evicted (`project.redismemory`: a growing count is also
logged). Every web node reports the same cluster
figures: aggregate them with `max`, not `sum`. When Redis does not answer within
`TIMEOUT` the page still answers 200, with `atelier_redis_up 0` and no cluster figures.

Worker processes serve their own metrics on a port of their own (`project.workermetrics`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry

from actors.metrics import redis_error, redis_errors
from actors.queues.broker import message_keys
from actors.records import TERMINAL, TaskKind
from actors.store.counts import TaskCounts
from actors.store.outage import OUTAGES
from actors.store.queueorder import BANDS, count_by_priority, owner_turns
from actors.store.tasks import TaskStore
from project import services
from project.redismemory import WARN_RATIO, RedisMemory, evictions

logger = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds Redis has to answer a scrape's reads

WEBSOCKETS = Gauge("atelier_websocket_connections", "GraphQL websockets open on this web node.")
SUBSCRIPTIONS = Gauge(
    "atelier_subscriptions", "taskProgress subscriptions following a task on this web node."
)
SUPERSEDED = Counter(
    "atelier_websocket_results_superseded",
    "Results never sent to a websocket client that was not reading: a newer result of the "
    "same operation replaced them.",
)
SLOW_CLOSES = Counter(
    "atelier_websocket_slow_client_closes",
    "Websockets closed with 4413: more than ATELIER_WS_MAX_BUFFERED_BYTES waited for the client.",
)


class ClusterCollector(Collector):
    """The cluster's figures, read from Redis when Prometheus scrapes."""

    def __init__(
        self, client: redis.Redis, store: TaskStore, namespace: str, queues: Sequence[str]
    ) -> None:
        self._client = client
        self._store = store
        self._namespace = namespace
        self._queues = list(queues)

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: no Redis read then

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "atelier_redis_up", "1 when this scrape read the cluster's figures from Redis."
        )
        families: list[Metric] | None = None
        try:
            families = self._read()
        except OUTAGES as error:
            redis_error(error)
        except Exception:  # a bug: the page still answers, the log says why
            logger.exception("cluster metrics not read")
        up.add_metric([], 0 if families is None else 1)
        yield up
        yield from families or []

    def _read(self) -> list[Metric]:
        with self._client.pipeline(transaction=False) as pipe:
            for queue in self._queues:
                keys = message_keys(self._namespace, queue)
                pipe.zcard(self._store.queue_key(queue))
                pipe.llen(keys.ready)
                pipe.zcard(keys.dead_letters)
                count_by_priority(pipe, self._store.queue_key(queue))
                pipe.hgetall(self._store.queue_order_key(queue))
            pipe.zcard(self._store.leases_key)
            pipe.hgetall(self._store.counts_key)
            pipe.info("memory")
            pipe.info("stats")  # one section per INFO: Redis 6 takes no more
            replies: list[Any] = pipe.execute()
        memory = RedisMemory.from_info(replies.pop(-2), replies.pop(-1))
        evictions.saw(memory)
        waiting = GaugeMetricFamily(
            "atelier_queue_tasks", "Tasks waiting (QUEUED) in each queue.", labels=["queue"]
        )
        messages = GaugeMetricFamily(
            "atelier_queue_messages",
            "Messages in each Dramatiq queue that no worker has fetched yet.",
            labels=["queue"],
        )
        dead = GaugeMetricFamily(
            "atelier_queue_dead_letters",
            "Messages Dramatiq dead-lettered in each queue (their actor raised).",
            labels=["queue"],
        )
        by_priority = GaugeMetricFamily(
            "atelier_queue_tasks_by_priority",
            "Tasks waiting (QUEUED) in each queue at each priority.",
            labels=["queue", "priority"],
        )
        rounds = GaugeMetricFamily(
            "atelier_queue_owner_rounds_ahead",
            "Fair share: rounds between the one being served and each waiting caller's "
            "next task (about how many of its tasks wait), per queue and priority.",
            labels=["queue", "priority", "owner"],
        )
        per_queue = 4 + len(BANDS)
        for index, queue in enumerate(self._queues):
            ours = replies[per_queue * index : per_queue * (index + 1)]
            waiting.add_metric([queue], ours[0])
            messages.add_metric([queue], ours[1])
            dead.add_metric([queue], ours[2])
            for priority, count in zip(BANDS, ours[3:-1], strict=True):
                by_priority.add_metric([queue, priority.value], count)
            for turn in owner_turns(ours[-1]):
                rounds.add_metric([queue, turn.priority.value, turn.owner], turn.rounds_ahead)
        running = GaugeMetricFamily("atelier_tasks_running", "Tasks RUNNING (holding a lease).")
        running.add_metric([], replies[-2])
        counted = _counted(TaskCounts.from_hash(replies[-1]))
        return [waiting, by_priority, rounds, messages, dead, running, *counted, *_memory(memory)]


def _memory(memory: RedisMemory) -> list[Metric]:
    used = GaugeMetricFamily(
        "atelier_redis_memory_used_bytes", "Memory Redis counts against its maxmemory."
    )
    used.add_metric([], memory.used)
    limit = GaugeMetricFamily("atelier_redis_memory_max_bytes", "Redis's maxmemory (0: none set).")
    limit.add_metric([], memory.limit)
    evicted = CounterMetricFamily(
        "atelier_redis_evicted_keys",
        "Keys Redis evicted for maxmemory since it started (INFO evicted_keys). Stays 0 under "
        "noeviction; any other policy may drop task records and results before their TTL.",
    )
    evicted.add_metric([], memory.evicted_keys)
    families: list[Metric] = [used, limit, evicted]
    if memory.ratio is not None:
        ratio = GaugeMetricFamily(
            "atelier_redis_memory_used_ratio",
            "Used memory as a share of maxmemory (absent without one). At 1 Redis refuses "
            f"writes: new tasks get SERVICE_UNAVAILABLE. /readyz warns from {WARN_RATIO:g}.",
        )
        ratio.add_metric([], memory.ratio)
        families.append(ratio)
    return families


def _counted(counts: TaskCounts) -> list[Metric]:
    """Counters start at 0 for every kind and ending, so a first task shows as an increase."""
    submitted = CounterMetricFamily(
        "atelier_tasks_submitted", "Tasks created, by kind.", labels=["kind"]
    )
    finished = CounterMetricFamily(
        "atelier_tasks_finished",
        "Tasks ended, by kind and terminal status.",
        labels=["kind", "status"],
    )
    failed = CounterMetricFamily(
        "atelier_tasks_failed",
        "Tasks ended FAILED, by kind and error code.",
        labels=["kind", "code"],
    )
    for kind in TaskKind:
        submitted.add_metric([kind.value], counts.submitted.get(kind, 0))
        for status in sorted(TERMINAL):
            finished.add_metric([kind.value, status.value], counts.finished.get((kind, status), 0))
    for (kind, code), value in sorted(counts.failed.items()):
        failed.add_metric([kind.value, code], value)
    return [submitted, finished, failed]


@functools.cache
def install() -> None:
    """Register what /metrics serves beside prometheus_client's process metrics. Once."""
    jobs = services.config().jobs
    client = jobs.redis.client(
        socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0)
    )
    cluster = ClusterCollector(client, services.store(), jobs.broker_namespace, jobs.queues)
    REGISTRY.register(cluster)
    # After the cluster's: a scrape that failed to read Redis counts in its own figures.
    REGISTRY.register(redis_errors())


async def metrics(request: HttpRequest) -> HttpResponse:
    """The text format Prometheus scrapes (OpenMetrics when its Accept header asks)."""
    install()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    # Reading Redis blocks: off the event loop, which serves the websockets.
    body = await asyncio.to_thread(encode, REGISTRY)
    return HttpResponse(body, content_type=content_type)
