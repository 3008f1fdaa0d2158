"""Django settings. Everything configurable comes from `project.config` (the environment)."""

import logging
import time

import redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from project.config import load

ATELIER = load()
# Every Redis client of the web process fails fast while Redis is out (a couple of
# seconds at most, instead of hanging on a dead connection) and reconnects by itself
# once it is back: a client sees SERVICE_UNAVAILABLE meanwhile, never a hang.
ATELIER_REDIS_TIMEOUT = 2.0  # seconds to connect, and to wait on one reply
# One quick retry of a refused or dropped connection (a pooled one may predate a
# restart); none of a timeout, which has already taken its time.
ATELIER_REDIS_RETRIES = 1

SECRET_KEY = ATELIER.secret_key
# Django's debug pages would show tracebacks to clients; ATELIER_DEBUG governs GraphiQL.
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
ROOT_URLCONF = "project.urls"
DATABASES: dict = {}
USE_TZ = True
TIME_ZONE = "UTC"
MIDDLEWARE: list[str] = []
ASGI_APPLICATION = "project.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: one PUBLISH per event however many subscribers, lowest latency.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": ATELIER.jobs.redis_url,
                    "socket_connect_timeout": ATELIER_REDIS_TIMEOUT,
                    "socket_timeout": ATELIER_REDIS_TIMEOUT,
                    "retry": Retry(
                        ExponentialWithJitterBackoff(base=0.05, cap=0.5),
                        ATELIER_REDIS_RETRIES,
                        supported_errors=(redis.ConnectionError,),
                    ),
                }
            ],
            "prefix": ATELIER.channel_prefix,
        },
    }
}


class QuietRedisOutage(logging.Filter):
    """channels_redis logs a whole traceback every second while Redis is out: keep one
    line, at most every `every` seconds, saying how many were left out."""

    def __init__(self, every: float = 30.0) -> None:
        super().__init__()
        self.every = every
        self._last = float("-inf")
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, redis.ConnectionError | redis.TimeoutError | OSError):
            return True
        now = time.monotonic()
        if now - self._last < self.every:
            self._dropped += 1
            return False
        record.msg = f"{record.getMessage()}: Redis unavailable ({error}); retrying"
        if self._dropped:
            record.msg += f" ({self._dropped} more such lines left out)"
        record.args, record.exc_info, record.exc_text = None, None, None
        self._last, self._dropped = now, 0
        return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redis_outage": {"()": QuietRedisOutage}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"channels_redis.pubsub": {"filters": ["redis_outage"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
