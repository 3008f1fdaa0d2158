"""Django settings. Everything configurable comes from `project.config` (the environment)."""

import os

from redis.asyncio.retry import Retry

from project.config import load
from project.logformat import TEXT, log_format
from project.redispolicy import fail_fast

ATELIER = load()
LOG_FORMAT = log_format(os.environ)  # text, or JSON lines (ATELIER_LOG_FORMAT=json)
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
# Multipart uploads (project.edge.uploads): the body limit in front bounds the fields
# (`operations` may carry base64 images too); a file part over 2.5 MB is spooled to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = ATELIER.max_body_bytes
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
CHANNEL_LAYERS = {
    "default": {
        # Pub/sub: one PUBLISH per event however many subscribers, lowest latency.
        "BACKEND": "project.edge.fanout.SharedDecodingLayer",
        "CONFIG": {
            "hosts": [ATELIER.jobs.redis.channel_layer_host(**fail_fast(Retry))],
            "prefix": ATELIER.channel_prefix,
        },
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": TEXT},
        "json": {"()": "project.logformat.JsonFormatter"},
    },
    "filters": {
        "redis_outage": {"()": "project.logfilters.QuietRedisOutage"},
        "readiness": {"()": "project.logfilters.ReadinessIsNotAnError"},
        "bounded": {"()": "project.logfilters.BoundedRecord"},
        "request_errors": {"()": "project.logfilters.RequestErrorsInBrief"},
    },
    "handlers": {
        # Whatever logger a record comes from, a request can put only so much in the log.
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["bounded"],
        }
    },
    "loggers": {
        "channels_redis.pubsub": {"filters": ["redis_outage"]},
        "django.request": {"filters": ["readiness"]},
        "strawberry.execution": {"filters": ["request_errors"]},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
