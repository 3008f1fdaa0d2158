"""Dramatiq's Redis broker, with a consumer that does not doze while its task runs.

Dramatiq's Redis consumer backs off exponentially (up to the worker timeout) on
every poll that brings no message. With a prefetch of one, each poll made while
the one prefetched task runs brings none, so after a task of a few hundred
milliseconds the consumer was asleep for up to the whole timeout when the task
ended: the worker idled for half of it on average before fetching the next task
(the largest part of the per-task overhead `bench/throughput.py` measured). Its
acks wait on the same loop. Here a consumer whose prefetch is taken up only
waits a few milliseconds, without touching Redis and without counting a miss, so
the next fetch happens as soon as the task is acked.
"""

from __future__ import annotations

import time
from typing import Any

from dramatiq.brokers.redis import RedisBroker, _RedisConsumer

# How often a consumer whose prefetch is taken up looks again (local state only).
BUSY_RECHECK_SECONDS = 0.002


class PromptConsumer(_RedisConsumer):
    def __next__(self) -> Any:
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            time.sleep(BUSY_RECHECK_SECONDS)
            return None
        return super().__next__()


class PromptRedisBroker(RedisBroker):
    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return PromptConsumer
