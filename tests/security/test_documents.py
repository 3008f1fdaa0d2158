"""Hostile GraphQL documents and request bodies: refused before anything executes.

The depth limit is checked in test_admission.py, on a stack whose limit is below
the schema's natural depth; documents that cost more to validate than their size
(fragments spreading fragments, fields repeated), in test_document_costs.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.security.hostile import OUTCOMES, RawApi, assert_no_leak, refused

SUBMIT_INLINE = (
    "mutation Sneak { submitTask(input: {imageGeneration: "
    '{prompt: "should never run", width: 64, height: 64, steps: 1, refinePrompt: false}}) '
    "{ id } }"
)

REFUSED_DOCUMENTS = {
    "50-aliases": (
        "{ " + " ".join(f'a{i}: task(id: "x") {{ id }}' for i in range(50)) + " }",
        "aliases",
    ),
    "16-aliased-submissions": (
        "mutation { "
        + " ".join(
            f'a{i}: submitTask(input: {{imageGeneration: {{prompt: "x"}}}}) {{ id }}'
            for i in range(16)
        )
        + " }",
        "aliases",
    ),
    "over-the-token-limit": ("{ " + "__typename " * 2500 + "}", "tokens"),
    "introspection-schema": ("{ __schema { types { name } } }", "introspection"),
    "introspection-type": ('{ __type(name: "Task") { fields { name } } }', "introspection"),
    "introspection-behind-a-fragment": (
        "query { ...Q } fragment Q on Query { __schema { queryType { name } } }",
        "introspection",
    ),
    "fragment-cycle": (
        'fragment A on Task { ...B } fragment B on Task { ...A } { task(id: "x") { ...A } }',
        "within itself",
    ),
    "undefined-fragment": ("{ ...Nope }", "Unknown fragment 'Nope'"),
    "anonymous-beside-named": ("{ tasks { id } } " + SUBMIT_INLINE, "anonymous operation"),
}


@pytest.mark.parametrize(
    ("document", "words"), list(REFUSED_DOCUMENTS.values()), ids=list(REFUSED_DOCUMENTS)
)
def test_hostile_document_is_refused_before_anything_runs(
    alice: RawApi, document: str, words: str
) -> None:
    before = alice.own_task_ids()
    error = refused(alice.execute(document), "BAD_USER_INPUT", single=False)
    assert words in error["message"], error
    assert alice.own_task_ids() == before


def test_introspection_stays_off_but_typename_works(alice: RawApi) -> None:
    assert alice.data("{ __typename }") == {"__typename": "Query"}


def test_batched_operations_are_refused_and_none_runs(alice: RawApi) -> None:
    before = alice.own_task_ids()
    batch = [{"query": SUBMIT_INLINE}, {"query": SUBMIT_INLINE}]
    response = alice.send(json.dumps(batch))
    assert response.status_code == 400, response.text
    OUTCOMES["HTTP 400"] += 1
    assert alice.own_task_ids() == before


def test_several_operations_without_a_name_run_only_the_first(alice: RawApi) -> None:
    """The GraphQL spec wants an error here; Strawberry runs the first operation instead
    (and decides GET's query-only rule on that same operation), so a mutation placed
    after a query never runs, over POST or GET."""
    before = alice.own_task_ids()
    document = "query Look { tasks { id } } " + SUBMIT_INLINE
    posted = alice.data(document)
    assert set(posted) == {"tasks"}, posted
    got = alice.http.get("/graphql", params={"query": document})
    assert_no_leak(got.text)
    assert got.status_code == 200 and set(got.json()["data"]) == {"tasks"}, got.text
    assert alice.own_task_ids() == before
    OUTCOMES["first operation only"] += 2


@pytest.mark.parametrize(
    "params",
    [
        {"query": SUBMIT_INLINE},
        {"query": "query Look { tasks { id } } " + SUBMIT_INLINE, "operationName": "Sneak"},
        {"query": 'mutation { cancelTask(id: "x") { id } }'},
    ],
    ids=["mutation", "named-mutation-behind-a-query", "cancel"],
)
def test_mutation_over_get_is_refused_and_does_not_run(
    alice: RawApi, params: dict[str, str]
) -> None:
    before = alice.own_task_ids()
    response = alice.http.get("/graphql", params=params)
    assert_no_leak(response.text)
    assert response.status_code in (400, 405), response.text
    OUTCOMES[f"HTTP {response.status_code}"] += 1
    assert alice.own_task_ids() == before


MALFORMED_BODIES = {
    "truncated-json": b'{"query": ',
    "invalid-utf8": b'{"query": "{ tasks { id } }", "variables": {"a": "\xff\xfe"}}',
    "json-string": b'"{ tasks { id } }"',
    "json-number": b"42",
    "json-null": b"null",
    "deeply-nested-json": b"[" * 100_000 + b"]" * 100_000,
    "query-not-a-string": b'{"query": 5}',
    "variables-not-an-object": b'{"query": "{ tasks { id } }", "variables": [1]}',
    "unknown-operation-name": b'{"query": "{ tasks { id } }", "operationName": "Nope"}',
    "empty-body": b"",
}


@pytest.mark.parametrize("body", list(MALFORMED_BODIES.values()), ids=list(MALFORMED_BODIES))
def test_malformed_body_is_a_client_error_not_a_crash(alice: RawApi, body: bytes) -> None:
    response = alice.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert_no_leak(response.text)
    OUTCOMES["HTTP 400"] += 1
    assert httpx.get(alice.stack.http_url + "/healthz", timeout=5).status_code == 200


SUBSCRIBE = 'subscription { taskProgress(id: "00000000-0000-0000-0000-000000000000") { id } }'


@pytest.mark.parametrize(
    ("method", "accept"),
    [("POST", "application/json"), ("POST", "multipart/mixed"), ("GET", "multipart/mixed")],
    ids=["post", "post-multipart", "get-multipart"],
)
def test_subscription_over_http_is_refused_not_internal(
    alice: RawApi, method: str, accept: str
) -> None:
    """Subscriptions live on the websocket; over HTTP they must be a client error."""
    headers = {"Accept": accept}
    if method == "GET":
        response = alice.http.get("/graphql", params={"query": SUBSCRIBE}, headers=headers)
    else:
        response = alice.http.post("/graphql", json={"query": SUBSCRIBE}, headers=headers)
    assert_no_leak(response.text)
    assert response.status_code != 500, response.text
    assert "INTERNAL" not in response.text, response.text
    if response.status_code == 200:
        assert "BAD_USER_INPUT" in response.text or "NOT_FOUND" in response.text, response.text
        OUTCOMES["BAD_USER_INPUT"] += 1
    else:
        assert response.status_code in (400, 405, 406), response.text
        OUTCOMES[f"HTTP {response.status_code}"] += 1
