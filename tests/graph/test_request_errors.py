"""A malformed request that reaches the result (over the websocket and SSE, both
through `schema.subscribe`) is the client's error, BAD_USER_INPUT, never a masked
INTERNAL: strawberry raises its own exceptions for these, not GraphQL errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graph.schema import make_schema


async def first_errors(query: str, operation_name: str | None) -> list[dict[str, Any]]:
    outcome = await make_schema().subscribe(query, operation_name=operation_name)
    assert hasattr(outcome, "__aiter__"), outcome
    async for result in outcome:
        return [{"message": e.message, **(e.extensions or {})} for e in result.errors or []]
    raise AssertionError("no result")


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("query A { __typename }", "B"),  # an operation the document lacks
        ("query A { __typename } query B { __typename }", None),  # which one?
    ],
)
def test_a_request_naming_no_runnable_operation_is_bad_user_input(
    query: str, operation_name: str | None
) -> None:
    errors = asyncio.run(first_errors(query, operation_name))
    assert [error["code"] for error in errors] == ["BAD_USER_INPUT"], errors
