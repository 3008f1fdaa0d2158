"""Django settings. Everything configurable comes from `project.config` (the environment)."""

from redis.asyncio.retry import Retry

from project.config import load
from project.redispolicy import fail_fast

ATELIER = load()
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
            "hosts": [ATELIER.jobs.redis.channel_layer_host(**fail_fast(Retry))],
            "prefix": ATELIER.channel_prefix,
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redis_outage": {"()": "project.logfilters.QuietRedisOutage"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"channels_redis.pubsub": {"filters": ["redis_outage"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
