"""How the processes log: plain text for people (the default), or one JSON object a line.

`ATELIER_LOG_FORMAT=json` makes the web (Django's LOGGING, see `project.settings`) and
the worker (`project.worker`) write each record as one JSON object on one line:
`time` (ISO 8601, UTC), `level`, `logger`, `message`, `task_id` while the record
belongs to a task (see `actors.logcontext`), `process`, `thread`, and `exception`
(the formatted traceback) when there is one. Log shippers read it without parsing
rules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from actors.logcontext import current_task_id
from project.logfilters import BoundedRecord

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_format(env: Mapping[str, str]) -> LogFormat:
    """`ATELIER_LOG_FORMAT`: `text` (default) or `json`."""
    value = env.get("ATELIER_LOG_FORMAT", "").strip().lower() or "text"
    for name in FORMATS:
        if value == name:
            return name
    raise SystemExit(f"ATELIER_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {value!r}")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        task_id = getattr(record, "task_id", None) or current_task_id.get()
        if task_id is not None:
            entry["task_id"] = task_id
        entry["process"] = record.process
        entry["thread"] = record.threadName
        # As logging.Formatter does: a traceback already formatted (and perhaps bounded,
        # see project.logfilters.BoundedRecord) is written as it is.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT)


def configure_worker(kind: LogFormat) -> None:
    """Logging for a worker process, each record bounded as in the web
    (`project.logfilters.BoundedRecord`). Dramatiq's CLI has already given the root logger
    a handler writing to its main process (which prints what it gets): JSON swaps
    that handler's formatter and keeps where it writes; text keeps Dramatiq's format.
    Without a handler (not under Dramatiq's CLI) one is added on stderr."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=TEXT)
    for handler in root.handlers:
        handler.addFilter(BoundedRecord())
    if kind == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
        # Warnings would go to stderr as they are: log them, as Django does in the web.
        logging.captureWarnings(True)
