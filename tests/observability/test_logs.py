"""ATELIER_LOG_FORMAT=json: one JSON object a line, carrying the task's id while it runs."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors.logcontext import carried, task_context
from project.logformat import JsonFormatter, log_format
from tests.api.scenarios import generation, is_terminal
from tests.client import Api
from tests.stack import Stack

# daphne's access log keeps its own format (see the README).
ACCESS_LINE = re.compile(r'^\S+ - - \[[^\]]+\] "')
# What Dramatiq's main and fork processes log before any code of ours runs there.
DRAMATIQ_OWN = re.compile(r"^\[[^\]]+\] \[PID \d+\] \[\w+\] \[dramatiq\.(MainProcess|ForkProcess)")
OURS = re.compile(r"\b(actors|project|pipelines|graph)\.|dramatiq\.WorkerProcess")


def records(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON records of a log, and the lines that are not JSON."""
    parsed, other = [], []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            other.append(line)
        else:
            if isinstance(record, dict):
                parsed.append(record)
            else:
                other.append(line)
    return parsed, other


def process(stack: Stack, name: str) -> str:
    return next(p.output() for p in stack.processes if p.name.startswith(name))


def test_worker_logs_json_lines_carrying_the_task_id(stack: Stack, api: Api) -> None:
    task = api.submit(generation("logged as json"))
    done = api.wait_for(task["id"], is_terminal)
    assert done["status"] == "SUCCEEDED", done

    parsed, other = records(process(stack, "worker"))

    mine = [record for record in parsed if record.get("task_id") == task["id"]]
    assert mine, parsed[-5:]
    ended = [record for record in mine if record["logger"] == "actors.worker.runner"]
    assert len(ended) == 1 and "SUCCEEDED" in ended[0]["message"], mine
    for record in mine:
        assert set(record) >= {"time", "level", "logger", "message", "process", "thread"}
    assert not [line for line in other if task["id"] in line]
    # Only what Dramatiq's main process prints, and what libraries write straight to
    # stderr (progress bars while loading models), is not a JSON record.
    assert not [line for line in other if OURS.search(line) and not DRAMATIQ_OWN.match(line)]
    assert any(record["message"] == "Worker process is ready for action." for record in parsed)


def test_web_logs_json_lines_besides_the_access_log(stack: Stack) -> None:
    parsed, other = records(process(stack, "web"))

    assert any(record["logger"] == "daphne.server" for record in parsed), parsed
    assert all(ACCESS_LINE.match(line) for line in other if line.strip()), other


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.observability.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_a_task_s_id_follows_its_threads_and_exceptions_keep_their_traceback(
    captured: io.StringIO,
) -> None:
    logger = logging.getLogger("tests.observability.json")

    def from_a_thread() -> None:
        logger.warning("renewing the lease")

    with task_context("task-1"):
        carrying = threading.Thread(target=carried(from_a_thread))
        bare = threading.Thread(target=from_a_thread)
        try:
            raise ValueError("a multi\nline failure")
        except ValueError:
            logger.exception("it failed")
    for thread in (carrying, bare):
        thread.start()
        thread.join()
    logger.info("between tasks")

    lines = captured.getvalue().splitlines()
    failed, carried_line, bare_line, between = (json.loads(line) for line in lines)
    assert failed["task_id"] == "task-1" and failed["level"] == "ERROR"
    assert failed["message"] == "it failed"
    assert "ValueError: a multi\nline failure" in failed["exception"]
    assert carried_line["task_id"] == "task-1"
    assert "task_id" not in bare_line and "task_id" not in between


def test_an_unknown_log_format_is_refused_by_name() -> None:
    assert log_format({}) == "text"
    assert log_format({"ATELIER_LOG_FORMAT": " JSON "}) == "json"
    with pytest.raises(SystemExit, match="ATELIER_LOG_FORMAT"):
        log_format({"ATELIER_LOG_FORMAT": "xml"})
