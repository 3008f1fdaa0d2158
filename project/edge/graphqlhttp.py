"""GraphQL over HTTP's media types and status codes, for the HTTP consumer's answers.

The GraphQL over HTTP specification (graphql.github.io/graphql-over-http) gives
`application/graphql-response+json` a meaning that `application/json` could not carry:

- A client whose Accept header prefers `application/graphql-response+json` gets it.
  A request error (the document does not parse or validate, the variables do not
  coerce: nothing was executed) then answers **400 without a `data` entry**. A response
  with data answers 200, also when a field error nulled the whole of it (`data: null`).
- Any other client (Accept `application/json`, `*/*`, or none) keeps the legacy
  answer: 200 and `{"data": null, "errors": [...]}`, as clients written for it expect.

Accept is read as HTTP reads it: the higher quality (`q`) wins, `q=0` refuses, and at
equal quality the first listed wins. The audit in tests/graphqlhttp runs the
specification's checks against a live server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from strawberry.http import GraphQLHTTPResponse

Responses = GraphQLHTTPResponse | list[GraphQLHTTPResponse]  # a list answers a batch

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"

# What each media range of an Accept header stands for, between our two types.
_RANGES = {
    GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
    JSON: JSON,
    "application/*": JSON,
    "*/*": JSON,
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What to send for one GraphQL response: its body, media type and status (None:
    whatever the operation set, 200 by default)."""

    body: Responses
    content_type: str
    status: int | None = None


def media_type(accept: str | None) -> str:
    """The media type a request's Accept header asks for, of the two we serve."""
    best, best_quality = JSON, 0.0
    for media_range in (accept or "").split(","):
        name, *parameters = (part.strip() for part in media_range.split(";"))
        chosen = _RANGES.get(name.lower())
        quality = _quality(parameters)
        if chosen is not None and quality > best_quality:
            best, best_quality = chosen, quality
    return best


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def is_request_error(response: GraphQLHTTPResponse) -> bool:
    """A response to a request that never executed: no data, and errors none of which
    has a path (a field's error always has one)."""
    errors = response.get("errors")
    return (
        response.get("data") is None
        and bool(errors)
        and all(isinstance(error, Mapping) and "path" not in error for error in errors or ())
    )


def answer(accept: str | None, response: Responses) -> Answer:
    """How to send `response` to a client whose Accept header is `accept`."""
    if media_type(accept) != GRAPHQL_RESPONSE:
        return Answer(response, JSON)
    content_type = f"{GRAPHQL_RESPONSE}; charset=utf-8"
    if not isinstance(response, list) and is_request_error(response):
        body = response.copy()
        body.pop("data", None)
        return Answer(body, content_type, status=400)
    return Answer(response, content_type)
