"""Dramatiq's Redis broker, with consumers that pick a message up as soon as it can run.

Dramatiq's Redis consumer polls: after every fetch that brings no message it
sleeps, exponentially longer up to the worker timeout. That idled workers twice:

- While the one prefetched task runs, every poll brings nothing, so when a task
  of a few hundred milliseconds ended the consumer was asleep for up to the whole
  timeout (and its acks wait on the same loop). Here a consumer whose prefetch is
  taken up only waits a few milliseconds, without touching Redis and without
  counting a miss, so it fetches again as soon as the task is acked.
- An idle worker noticed a new message only at its next poll. Here enqueueing
  also rings a per-queue doorbell (a short Redis list), and an idle consumer
  waits on it with BLPOP for as long as it would have slept: a ring wakes one
  waiting consumer at once. Rings nobody waits for are capped and expire; a
  consumer woken by a ring that another consumer has answered finds no message
  and waits again, so a ring is never more than a hint.

A fetch a full Redis refuses counts as a miss too (see `actors.store.outage`).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff, current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from actors.store.outage import is_full

# How often a consumer whose prefetch is taken up looks again (local state only).
BUSY_RECHECK_SECONDS = 0.002
# Rings kept for consumers that are not waiting yet (each wakes one fetch), and how
# long: enough for a burst of messages to wake as many idle workers.
DOORBELL_RINGS_KEPT = 16
DOORBELL_TTL_SECONDS = 60


def doorbell_key(namespace: str, queue_name: str) -> str:
    return f"{namespace}:__doorbell__.{queue_name}"


class DoorbellConsumer(_RedisConsumer):
    broker: DoorbellRedisBroker

    def __next__(self) -> Any:
        if not self.message_cache:
            if self.outstanding_message_count >= self.prefetch:
                time.sleep(BUSY_RECHECK_SECONDS)
                return None
            try:
                self.message_cache = self.broker.do_fetch(
                    self.queue_name, self.prefetch - self.outstanding_message_count
                )
                if not self.message_cache:
                    self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                    self.broker.wait_for_ring(self.queue_name, backoff_ms / 1000)
                    return None
            except redis.ConnectionError as error:
                raise ConnectionClosed(error) from None
            except redis.ResponseError as error:
                if not is_full(error):
                    raise
                # A full Redis refuses the fetch script (it moves a message to the
                # acks set): an outage to wait out, like an empty queue, rather than
                # a crashed consumer restarted every few seconds with a traceback.
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                time.sleep(backoff_ms / 1000)
                return None
        return super().__next__()  # takes the first fetched message


class DoorbellRedisBroker(RedisBroker):
    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return DoorbellConsumer

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        enqueued = super().enqueue(message, delay=delay)
        if delay is None:
            self.ring(enqueued.queue_name)
        return enqueued

    def ring(self, queue_name: str) -> None:
        key = doorbell_key(self.namespace, queue_name)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(key, 1)
        pipe.ltrim(key, 0, DOORBELL_RINGS_KEPT - 1)
        pipe.expire(key, DOORBELL_TTL_SECONDS)
        pipe.execute()

    def recover_from_dead_workers(self) -> None:
        """Put back in their queues the messages that workers silent for longer than
        `heartbeat_timeout` had fetched and not acknowledged.

        Dramatiq does this as "maintenance" on a random one in a thousand of its
        script calls, per queue; idle workers make few calls, so a task whose message
        a killed worker had prefetched waited minutes. Called from every sweep
        (actors.worker.sweeper), it is the same step, run on purpose: the dispatch
        script's cheapest command, with maintenance asked for, on each queue.
        """
        dispatch = self.scripts["dispatch"]
        for queue_name in self.get_declared_queues():
            args = [
                "qsize",
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                1,  # do_maintenance
                self._max_unpack_size(),
            ]
            dispatch(args=args, keys=[self.namespace])

    def wait_for_ring(self, queue_name: str, seconds: float) -> None:
        # BLPOP's timeout has millisecond resolution, and 0 would mean forever.
        self.client.blpop([doorbell_key(self.namespace, queue_name)], timeout=max(seconds, 0.01))
