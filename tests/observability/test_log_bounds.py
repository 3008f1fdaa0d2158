"""What one request can put in the web log is bounded, whatever it sends.

Strawberry logs each error of a response with the document's lines around it and the
traceback of what raised it: a 5 KB document whose 50 errors sit between two long
comment lines wrote 250 KB. `project.logfilters` bounds every record and keeps a
request's own errors to a few short lines.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLError

from project.logfilters import BoundedRecord, RequestErrorsInBrief
from project.logformat import JsonFormatter
from tests.stack import Process, Stack

# Per request: a handful of short error lines, the note that the rest were left out,
# and daphne's access line.
BOUND = 3000
LONG_LINE = "#" + "x" * 2400
HOSTILE: dict[str, dict[str, Any]] = {
    "50 errors between two long lines": {"query": f"{LONG_LINE}\n{{{' a' * 50}\n{LONG_LINE}\n}}"},
    "unknown fields on one line": {"query": "{ " + " ".join(f"f{i}" for i in range(700)) + " }"},
    "validation aborted after 100 errors": {"query": "{" + " t" * 1900 + "}"},
    "unterminated string": {"query": '{ task(id: "' + "x" * 5000},
    "huge variables": {
        "query": "query($id: ID!) { task(id: $id) { id } }",
        "variables": {"id": {"x": "y" * 1_000_000}},
    },
    "huge input of the wrong type": {
        "query": "mutation($input: SubmitTaskInput!) { submitTask(input: $input) { id } }",
        "variables": {"input": {"imageGeneration": {"prompt": 1, "junk": "z" * 100_000}}},
    },
    "unauthenticated aliases": {
        "query": "{" + " ".join(f"a{i}: tasks {{ id }}" for i in range(14)) + "}"
    },
}


@pytest.fixture(scope="module", params=["text", "json"])
def web(
    request: pytest.FixtureRequest,
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, Process]]:
    env = {"ATELIER_LOG_FORMAT": request.param}
    folder = tmp_path_factory.mktemp(f"log-bounds-{request.param}")
    with Stack(redis_url, folder, stack_models, env).held() as stack:
        yield stack, stack.start_web()


def growth(process: Process, send: Any) -> tuple[httpx.Response, str]:
    """The answer to `send()`, and what the web log grew by meanwhile (once the access
    line, written last, is there)."""
    before = process.log.stat().st_size
    answer = send()
    deadline = time.monotonic() + 10
    while True:
        with process.log.open("rb") as log:
            log.seek(before)
            added = log.read().decode(errors="replace")
        if '] "' in added.rsplit("\n", 2)[-2 if added.endswith("\n") else -1]:
            return answer, added
        assert time.monotonic() < deadline, f"no access line after the request: {added[-500:]}"
        time.sleep(0.05)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_request_writes_at_most_a_few_kilobytes_to_the_web_log(
    web: tuple[Stack, Process], name: str
) -> None:
    stack, process = web
    body = json.dumps(HOSTILE[name]).encode()
    answer, added = growth(
        process,
        lambda: httpx.post(
            f"{stack.http_url}/graphql",
            content=body,
            headers={"content-type": "application/json"},
            timeout=60,
        ),
    )

    assert answer.status_code == 200 and answer.json()["errors"], answer.text[:300]
    print(f"\n{name}: request {len(body)} B, web log +{len(added.encode())} B")
    assert len(added.encode()) <= BOUND, added[:2000]
    assert "GraphQL request:" not in added, "a document excerpt reached the log"


def test_errors_past_a_request_s_share_are_left_out_with_a_note(
    web: tuple[Stack, Process],
) -> None:
    stack, process = web
    query = {"query": "{" + " ".join(f"f{i}" for i in range(40)) + "}"}
    answer, added = growth(
        process, lambda: httpx.post(f"{stack.http_url}/graphql", json=query, timeout=30)
    )

    assert len(answer.json()["errors"]) == 40
    lines = [line for line in added.splitlines() if "strawberry.execution" in line]
    assert len(lines) == 6, added
    assert all("GraphQL request error" in line for line in lines[:5]), lines
    assert "Cannot query field 'f0' on type 'Query'." in lines[0]
    assert "further GraphQL errors of this request are left out" in lines[5]


def test_a_long_path_is_logged_once_and_bounded_beside_the_access_line(
    web: tuple[Stack, Process],
) -> None:
    stack, process = web
    path = "/" + "p" * 6000
    answer, added = growth(process, lambda: httpx.get(stack.http_url + path, timeout=30))

    assert answer.status_code == 404
    # daphne's access line carries the path as sent (its HTTP parser takes request lines
    # of up to 16 KiB); Django's "Not Found" warning is cut to a bounded record.
    assert len(added.encode()) <= len(path) + BOUND, len(added)
    assert "characters cut" in added


# The filters on their own, as the web's LOGGING wires them.


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(BoundedRecord(max_message=200, max_traceback=600))
    logger = logging.getLogger("tests.observability.bounds")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_keeps_the_head_of_its_message_and_the_tail_of_its_traceback(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    logger.warning("value: %s", "v" * 10_000)
    try:
        raise ValueError("deep " + "w" * 10_000 + " the cause")
    except ValueError:
        logger.exception("failed")
    logger.info("short and whole")

    long, failed, short = lines(stream)
    assert long["message"].startswith("value: vvv") and len(long["message"]) < 300
    assert "[9807 characters cut]" in long["message"]
    assert failed["exception"].startswith("Traceback") and len(failed["exception"]) < 700
    assert failed["exception"].endswith(" the cause") and "characters cut" in failed["exception"]
    assert short["message"] == "short and whole"


def test_a_request_s_errors_are_one_line_each_and_faults_keep_their_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.observability.strawberry")
    logger.addHandler(handler)
    logger.addFilter(RequestErrorsInBrief(per_request=2))
    logger.propagate = False

    def fault() -> GraphQLError:
        try:
            raise KeyError("a bug")
        except KeyError as error:
            return GraphQLError("internal", original_error=error)

    async def request(errors: list[GraphQLError]) -> None:
        for error in errors:  # as strawberry's Schema.process_errors logs them
            logger.error(error, exc_info=error.original_error)

    try:
        asyncio.run(request([GraphQLError("Cannot query field 'a'."), fault()]))
        asyncio.run(request([GraphQLError(f"error {n}") for n in range(5)]))
    finally:
        logger.removeHandler(handler)

    text = stream.getvalue()
    first, fault_line = text.split("\n", 2)[:2]
    assert first == "INFO GraphQL request error: Cannot query field 'a'."
    assert fault_line == "ERROR internal" and "KeyError: 'a bug'" in text
    second = text[text.index("error 0") - len("INFO GraphQL request error: ") :].splitlines()
    assert second == [
        "INFO GraphQL request error: error 0",
        "INFO GraphQL request error: error 1",
        "INFO further GraphQL errors of this request are left out of the log",
    ]
