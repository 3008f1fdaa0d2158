"""Documents that cost the server more than their size: answered at once, with a code,
while /healthz keeps answering (GitHub issue #12).

Validation runs before anything executes, for anyone, key or not. Strawberry's depth and
alias limiters walked a fragment again at every spread (20 fragments each spreading the
next twice: a million paths, 6 s for 826 bytes), and graphql-core compares every pair of
fields sharing a response name. `graph/depth.py` measures each fragment once,
`graph/documents.py` holds graphql-core's own work budgets to `max_validation_work` and
validates off the event loop. The documents below are the largest of their kind within
the 2,000-token limit.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import strawberry
from graphql import ValidationContext, ValidationRule, parse, specified_rules, validate
from graphql.language.lexer import Lexer
from graphql.language.source import Source
from graphql.language.token_kind import TokenKind
from strawberry.extensions import AddValidationRules
from strawberry.extensions.max_aliases import create_validator as strawberry_aliases
from strawberry.extensions.query_depth_limiter import create_validator as strawberry_depth

from graph.depth import shape_limits
from graph.documents import TOO_MUCH_WORK, DocumentChecks
from graph.limits import QueryLimits
from graph.masking import PublicErrors
from graph.schema import Query, make_schema
from project.edge.graphqlhttp import GRAPHQL_RESPONSE
from tests import wsclient
from tests.security.hostile import OUTCOMES, RawApi, assert_no_leak
from tests.stack import ALICE_KEY, Stack

MAX_TOKENS = QueryLimits().max_tokens


def _tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def _largest(make: Callable[[int], str]) -> str:
    """`make(n)` for the largest n whose document stays within the token limit."""
    low, high = 1, MAX_TOKENS
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _tokens(make(middle)) <= MAX_TOKENS else (low, middle - 1)
    return make(low)


def fragments_spread_twice(levels: int, leaf: str = "id") -> str:
    """The issue's document: each fragment spreads the next one twice."""
    fragments = [f"fragment F{i} on Task {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels - 1)]
    return " ".join(
        ['{ task(id: "x") { ...F0 } }', *fragments, f"fragment F{levels - 1} on Task {{ {leaf} }}"]
    )


def fragment_chain(n: int) -> str:
    fragments = [f"fragment F{i} on Task {{ ...F{i + 1} }}" for i in range(n - 1)]
    return " ".join(
        ['{ task(id: "x") { ...F0 } }', *fragments, f"fragment F{n - 1} on Task {{ id }}"]
    )


def same_field(n: int) -> str:
    return "{ " + " ".join('task(id: "x") { id }' for _ in range(n)) + " }"


def typename(n: int) -> str:
    return "{ " + "__typename " * n + "}"


def nested_repeats(n: int) -> str:
    return "{ " + " ".join("tasks { result { image { url width } seed } }" for _ in range(n)) + " }"


def fragments_side_by_side(n: int) -> str:
    spreads = " ".join(f"...F{i}" for i in range(n))
    fragments = [f"fragment F{i} on Task {{ result {{ seed }} }}" for i in range(n)]
    return " ".join([f"{{ tasks {{ {spreads} }} }}", *fragments])


def operations_sharing_variables(n: int) -> str:
    operations = [f"query Q{i}($v: Boolean!) {{ ...F }}" for i in range(n)]
    fragment = "fragment F on Query { " + "__typename @include(if: $v) " * n + "}"
    return " ".join([*operations, fragment])


def deep_nesting(n: int) -> str:
    return "{ " + "tasks { " * n + "id" + " }" * n + " }"


def unknown_fields(n: int) -> str:
    return "{ " + " ".join(f"nope{i}" for i in range(n)) + " }"


# name: (document, sent with Alice's key, code, words of the first error)
COSTLY: dict[str, tuple[str, bool, str, str]] = {
    "fragments-spread-twice-20-without-a-key": (
        fragments_spread_twice(20),
        False,
        "UNAUTHENTICATED",
        "API key",
    ),
    "fragments-spread-twice-30-aliased": (
        fragments_spread_twice(30, leaf="a: id"),
        True,
        "BAD_USER_INPUT",
        "536870912 aliases found",
    ),
    "fragment-chain": (_largest(fragment_chain), True, "BAD_USER_INPUT", TOO_MUCH_WORK),
    "same-field-many-times": (_largest(same_field), True, "BAD_USER_INPUT", TOO_MUCH_WORK),
    "typename-many-times": (_largest(typename), True, "BAD_USER_INPUT", TOO_MUCH_WORK),
    "nested-repeats": (_largest(nested_repeats), True, "BAD_USER_INPUT", TOO_MUCH_WORK),
    "fragments-side-by-side": (
        _largest(fragments_side_by_side),
        True,
        "BAD_USER_INPUT",
        TOO_MUCH_WORK,
    ),
    "operations-sharing-variables": (
        _largest(operations_sharing_variables),
        True,
        "BAD_USER_INPUT",
        TOO_MUCH_WORK,
    ),
    "nested-as-deep-as-parsing-allows": (
        "{ " + "tasks { " * 199 + "id" + " }" * 199 + " }",
        True,
        "BAD_USER_INPUT",
        "exceeds maximum operation depth of 10",
    ),
    "a-hundred-unknown-fields": (_largest(unknown_fields), True, "BAD_USER_INPUT", "nope0"),
}

COPIES = 5  # each sent this many times, told apart by whitespace: none validated before
ANSWER_WITHIN = 1.0  # seconds, for one costly document (before: 0.3 to 7 s, and growing)
HEALTHZ_WITHIN = 0.1  # seconds, for /healthz meanwhile
HEALTHZ_SHARE = 0.9  # of its answers, allowing for a loaded test machine's scheduling


def _while_polling_healthz(stack: Stack, work: Callable[[], None]) -> list[float]:
    """Runs `work` on a thread and GETs /healthz until it ends; each GET's seconds."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised on the test's thread
            failed.append(error)

    thread, latencies = threading.Thread(target=run), []
    with httpx.Client(base_url=stack.http_url, timeout=5) as client:
        assert client.get("/healthz").status_code == 200  # connected beforehand
        thread.start()
        while thread.is_alive():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
    thread.join()
    if failed:
        raise failed[0]
    return latencies


def _coded(body: dict[str, Any], code: str, words: str) -> None:
    """Errors all with `code`, one saying `words`; no data where nothing ran."""
    errors = body.get("errors")
    assert errors, body
    assert all((error.get("extensions") or {}).get("code") == code for error in errors), errors
    assert any(words in error["message"] for error in errors), errors
    if code == "BAD_USER_INPUT":
        assert "data" not in body or body["data"] is None, body


@pytest.mark.parametrize(
    ("document", "with_key", "code", "words"), list(COSTLY.values()), ids=list(COSTLY)
)
def test_costly_document_is_answered_at_once_while_healthz_keeps_answering(
    alice: RawApi, hostile_stack: Stack, document: str, with_key: bool, code: str, words: str
) -> None:
    assert _tokens(document) <= MAX_TOKENS
    api = alice if with_key else RawApi(hostile_stack, None)
    answers: list[tuple[float, dict[str, Any]]] = []

    def send() -> None:
        for copy in range(COPIES):
            started = time.perf_counter()
            body = api.execute(document + " " * (copy + 1))
            answers.append((time.perf_counter() - started, body))

    latencies = _while_polling_healthz(hostile_stack, send)
    for seconds, body in answers:
        _coded(body, code, words)
        assert seconds < ANSWER_WITHIN, (seconds, body)
    prompt = sum(latency <= HEALTHZ_WITHIN for latency in latencies)
    assert latencies and prompt >= HEALTHZ_SHARE * len(latencies), sorted(latencies)
    assert max(latencies) < ANSWER_WITHIN, sorted(latencies)
    assert api.execute("{ __typename }") == {"data": {"__typename": "Query"}}
    OUTCOMES[code] += 1


UNDEFINED_FRAGMENT = (
    "{ ...Nope }",
    'subscription { taskProgress(id: "x") { ...Nope } }',
    "query Q { task(id: 1) { ...X } }",
)


@pytest.mark.parametrize("document", UNDEFINED_FRAGMENT)
def test_undefined_fragment_is_bad_user_input_over_http(
    alice: RawApi, hostile_stack: Stack, document: str
) -> None:
    posted = alice.execute(document)
    got = alice.http.get("/graphql", params={"query": document})
    assert_no_leak(got.text)
    for body in (posted, got.json()):
        _coded(body, "BAD_USER_INPUT", "Unknown fragment")
    web = next(p for p in hostile_stack.processes if p.name.startswith("web"))
    assert "KeyError" not in web.output()
    OUTCOMES["BAD_USER_INPUT"] += 2


async def _first_answer(url: str, protocol: str, document: str) -> dict[str, Any]:
    """The server's first message about one operation, over `protocol`."""
    async with wsclient.session(url, protocol) as ws:
        await ws.init(ALICE_KEY)
        await ws.subscribe("1", document)
        message = await ws.receive(timeout=5)  # the legacy protocol's keep-alives skipped
        assert_no_leak(json.dumps(message))
        return message


@pytest.mark.parametrize("protocol", wsclient.PROTOCOLS)
@pytest.mark.parametrize("document", UNDEFINED_FRAGMENT)
def test_undefined_fragment_is_bad_user_input_over_the_websocket(
    alice: RawApi, hostile_stack: Stack, protocol: str, document: str
) -> None:
    message = asyncio.run(_first_answer(hostile_stack.ws_url, protocol, document))
    assert message["type"] == "error", message
    errors = wsclient.Frames(protocol).errors(message)  # legacy: one error, unwrapped
    _coded({"errors": errors}, "BAD_USER_INPUT", "Unknown fragment")
    OUTCOMES["BAD_USER_INPUT"] += 1


SUBMIT = "mutation($input: SubmitTaskInput!) { submitTask(input: $input) { id } }"
TYPOS: dict[str, tuple[str, dict[str, Any]]] = {
    "field": ('{ taks(id: "x") { id } }', {}),
    "mutation": ("mutation { submitTsk(input: {}) { id } }", {}),
    "argument": ('{ task(idd: "x") { id } }', {}),
    "type": ("query($s: TaskStats) { tasks(status: $s) { id } }", {}),
    "enum-value-in-a-variable": (
        "query($s: TaskStatus) { tasks(status: $s) { id } }",
        {"s": "QUEUD"},
    ),
    "input-field-in-a-variable": (SUBMIT, {"input": {"imageGeneraton": {"prompt": "x"}}}),
}


@pytest.mark.parametrize(("document", "variables"), list(TYPOS.values()), ids=list(TYPOS))
def test_no_name_is_suggested_while_introspection_is_off(
    alice: RawApi, document: str, variables: dict[str, Any]
) -> None:
    body = alice.execute(document, variables)
    _coded(body, "BAD_USER_INPUT", "")
    assert "Did you mean" not in json.dumps(body), body
    OUTCOMES["BAD_USER_INPUT"] += 1


@pytest.mark.parametrize(("document", "variables"), list(TYPOS.values()), ids=list(TYPOS))
def test_names_are_suggested_while_introspection_is_on(
    document: str, variables: dict[str, Any]
) -> None:
    """The typos above do draw suggestions where the schema is public anyway."""
    result = asyncio.run(make_schema(QueryLimits()).execute(document, variable_values=variables))
    assert result.errors and "Did you mean" in result.errors[0].message, result.errors


@pytest.mark.parametrize(
    "document",
    ["{", '{ taks(id: "x") { id } }', "{ ...Nope }", COSTLY["typename-many-times"][0]],
    ids=["syntax", "unknown-field", "undefined-fragment", "too-much-work"],
)
def test_request_error_is_400_without_data_for_graphql_response_json(
    alice: RawApi, document: str
) -> None:
    response = alice.http.post(
        "/graphql", json={"query": document}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert_no_leak(response.text)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body, body
    _coded(body, "BAD_USER_INPUT", "")
    OUTCOMES["HTTP 400"] += 1


# -- in the process, no stack ----------------------------------------------------------

IN_PROCESS_WITHIN = 0.25  # seconds, best of three, for parse and validation together


@pytest.mark.parametrize(
    "document",
    [fragments_spread_twice(24), *(document for document, *_ in COSTLY.values())],
    ids=["fragments-spread-twice-24", *COSTLY],
)
def test_parse_and_validation_take_time_linear_in_the_document(document: str) -> None:
    limits = QueryLimits(introspection=False)
    schema = make_schema(limits)._schema
    rules = tuple(specified_rules)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        DocumentChecks(limits).check(schema, parse(document, max_tokens=MAX_TOKENS), rules)
        best = min(best, time.perf_counter() - started)
    assert best < IN_PROCESS_WITHIN, best


class Broken(ValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        raise KeyError("a rule's own bug")


def test_a_failure_inside_validation_is_an_internal_error_not_an_exception() -> None:
    """As a KeyError in strawberry's depth limiter was: uncoded over HTTP, and no answer at
    all over the websocket."""
    schema = strawberry.Schema(
        query=Query,
        extensions=[
            PublicErrors,
            lambda: AddValidationRules([Broken]),
            DocumentChecks(QueryLimits()).extension(),
        ],
    )
    result = asyncio.run(schema.execute("{ __typename }"))
    assert result.errors and len(result.errors) == 1, result
    assert result.errors[0].extensions and result.errors[0].extensions["code"] == "INTERNAL"
    assert "KeyError" not in result.errors[0].message


SHAPES = [
    '{ task(id: "x") { result { image { url } } } }',
    'query Q { task(id: "x") { ...R } } fragment R on Task { result { image { url } } }',
    '{ task(id: "x") { ... on Task { result { ... on TaskResult { image { url } } } } } }',
    '{ task(id: "x") { result { seed } } }',
    '{ a: task(id: "x") { id } b: task(id: "x") { ...F ...F } } fragment F on Task { c: id }',
    "{ __schema { types { fields { type { ofType { name } } } } } }",
    'query A { task(id: "x") { id } } query B { tasks { result { image { url } } } }',
    fragments_spread_twice(8, leaf="a: id"),
]


@pytest.mark.parametrize("document", SHAPES)
def test_depth_and_aliases_are_counted_as_strawberry_counted_them(document: str) -> None:
    """Same figures and messages as the limiters this replaces, on documents they could
    still measure (limits of 2 levels and 3 aliases, so that some are exceeded)."""
    schema = make_schema()._schema
    theirs = [strawberry_depth(2, None), strawberry_aliases(3)]
    ours = [shape_limits(max_depth=2, max_aliases=3)]
    ast = parse(document)
    assert sorted(e.message for e in validate(schema, ast, ours)) == sorted(
        {e.message for e in validate(schema, ast, theirs)}
    )
