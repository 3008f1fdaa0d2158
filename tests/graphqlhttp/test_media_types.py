"""Which media type and status a GraphQL response is sent with (project.edge.graphqlhttp)."""

from __future__ import annotations

import pytest
from strawberry.http import GraphQLHTTPResponse

from project.edge.graphqlhttp import GRAPHQL_RESPONSE, JSON, answer, media_type

REQUEST_ERROR: GraphQLHTTPResponse = {
    "data": None,
    "errors": [{"message": "Syntax Error", "extensions": {"code": "BAD_USER_INPUT"}}],
}
FIELD_ERROR: GraphQLHTTPResponse = {
    "data": None,
    "errors": [{"message": "a valid API key is required", "path": ["tasks"]}],
}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/html", JSON),  # nothing we serve: the legacy type, as before
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),  # equal quality: the first
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, application/json", JSON),
        (f"{GRAPHQL_RESPONSE};q=nonsense", JSON),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE),
    ],
)
def test_media_type_follows_the_accept_header(accept: str | None, expected: str) -> None:
    assert media_type(accept) == expected


def test_request_error_is_400_without_data_for_graphql_response_json() -> None:
    sent = answer(GRAPHQL_RESPONSE, REQUEST_ERROR)
    assert sent.status == 400
    assert sent.body == {"errors": REQUEST_ERROR["errors"]}
    assert sent.content_type.startswith(GRAPHQL_RESPONSE)
    assert REQUEST_ERROR["data"] is None  # the response itself is left as it was


def test_field_error_keeps_its_data_and_status() -> None:
    sent = answer(GRAPHQL_RESPONSE, FIELD_ERROR)
    assert (sent.status, sent.body) == (None, FIELD_ERROR)


def test_legacy_json_keeps_data_null_and_status() -> None:
    sent = answer("application/json", REQUEST_ERROR)
    assert (sent.status, sent.body, sent.content_type) == (None, REQUEST_ERROR, JSON)


def test_a_batch_is_sent_as_it_is() -> None:
    sent = answer(GRAPHQL_RESPONSE, [REQUEST_ERROR, FIELD_ERROR])
    assert (sent.status, sent.body) == (None, [REQUEST_ERROR, FIELD_ERROR])
