"""Logging filters named in settings' LOGGING, by dotted path."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from graphql import GraphQLError

from actors.store.outage import OUTAGES


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


def _cut(text: str, limit: int, head_share: float = 0.75) -> str:
    """`text` within about `limit` characters: its head and tail, and a note of how much
    of the middle was cut."""
    if len(text) <= limit:
        return text
    head = int(limit * head_share)
    tail = limit - head
    return f"{text[:head]} … [{len(text) - limit} characters cut] … {text[-tail:]}"


class BoundedRecord(logging.Filter):
    """What one record can put in the log is bounded: its message to `max_message`
    characters, its traceback and stack to `max_traceback` each, with a note of how much
    was cut. A handler's filter: it sees every record the handler writes, whichever
    logger made it, so no request can turn a few kilobytes into a log of megabytes."""

    def __init__(self, max_message: int = 2000, max_traceback: int = 8000) -> None:
        super().__init__()
        self.max_message = max_message
        self.max_traceback = max_traceback
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > self.max_message:
            record.msg, record.args = _cut(message, self.max_message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text and len(record.exc_text) > self.max_traceback:
            # A traceback's tail says what went wrong.
            record.exc_text = _cut(record.exc_text, self.max_traceback, head_share=0.25)
        if record.stack_info and len(record.stack_info) > self.max_traceback:
            record.stack_info = _cut(record.stack_info, self.max_traceback, head_share=0.25)
        return True


class RequestErrorsInBrief(logging.Filter):
    """Strawberry logs every error of a GraphQL response at ERROR, each with an excerpt
    of the document around it (whole lines, however long) and the traceback of what
    raised it: one 5 KB document could write 250 KB. On `strawberry.execution`:

    - an error in the request itself (syntax, validation, variables) or one of the API's
      own answers (`NOT_FOUND`, `UNAUTHENTICATED`, ...) becomes one INFO line: its
      message (at most `max_message` characters), where it was, no excerpt, no traceback;
    - anything else (a fault: masked as `INTERNAL`) keeps its level and traceback;
    - a request logs at most `per_request` such records, then one line saying the rest
      are left out. A request is the asyncio task that runs it (one per HTTP request,
      one per websocket operation).
    """

    def __init__(self, per_request: int = 5, max_message: int = 300) -> None:
        super().__init__()
        self.per_request = per_request
        self.max_message = max_message
        self._counts: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    def filter(self, record: logging.LogRecord) -> bool:
        count = self._count()
        if count > self.per_request + 1:
            return False
        if count == self.per_request + 1:
            record.msg = "further GraphQL errors of this request are left out of the log"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        error = record.msg
        if isinstance(error, GraphQLError) and _from_request(error):
            record.msg, record.args = self._brief(error), None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True

    def _count(self) -> int:
        try:
            request: object = asyncio.current_task()
        except RuntimeError:  # no event loop in this thread
            request = None
        if request is None:
            return 1
        count = self._counts.get(request, 0) + 1
        self._counts[request] = count
        return count

    def _brief(self, error: GraphQLError) -> str:
        code = (error.extensions or {}).get("code")
        where = ""
        if error.path:
            where = " at " + ".".join(str(part) for part in error.path)
        elif error.locations:
            where = " at " + ", ".join(f"{loc.line}:{loc.column}" for loc in error.locations[:3])
        message = _cut(error.message, self.max_message)
        return f"GraphQL request error{f' {code}' if code else ''}: {message}{where}"


def _from_request(error: GraphQLError) -> bool:
    """An error the request caused (GraphQL's own, or one of the API's answers raised by
    a resolver), rather than a fault of the server."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError)
