"""Logging filters named in settings' LOGGING, by dotted path."""

from __future__ import annotations

import logging
import time

from actors.outage import OUTAGES


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
        if not isinstance(error, OUTAGES):
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


class ReadinessIsNotAnError(logging.Filter):
    """Django logs every 5xx answer at ERROR, and a load balancer asks /readyz every few
    seconds: a node waiting for its first worker, or for Redis, would fill the log with
    errors that are states. The access log still has each 503, and the body says why."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return getattr(request, "path", None) != "/readyz"
