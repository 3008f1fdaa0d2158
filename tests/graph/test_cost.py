"""Inline images counted from the document, as the schema would resolve it."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse
from graphql.utilities import get_operation_ast

from graph.cost import inline_images
from graph.schema import schema

REPORTED = "tasks(limit: 6) { result { image { base64 } } }"


def count(document: str, **variables: Any) -> int:
    parsed = parse(document)
    operation = get_operation_ast(parsed)
    assert operation is not None
    return inline_images(schema._schema, parsed, operation, variables)


@pytest.mark.parametrize(
    ("document", "images"),
    [
        ("{ tasks { id } }", 0),
        ("{ tasks { result { image { url } } } }", 0),
        ('{ task(id: "x") { result { image { base64 } } preview { base64 } } }', 2),
        ("{ tasks { result { image { base64 } } } }", 20),  # the argument's default
        ("{ tasks(limit: 3) { preview { base64 } result { image { base64 } } } }", 6),
        ("{ " + " ".join(f"a{n}: {REPORTED}" for n in range(15)) + " }", 90),
    ],
)
def test_inline_images_are_counted_per_list_item_and_alias(document: str, images: int) -> None:
    assert count(document) == images


def test_a_variable_limit_is_counted_at_its_value() -> None:
    query = "query ($n: Int!) { tasks(limit: $n) { result { image { base64 } } } }"
    assert count(query, n=7) == 7


def test_fragments_count_where_they_are_spread_and_are_counted_once_each() -> None:
    fragments = "".join(f"fragment F{n} on Task {{ ...F{n + 1} ...F{n + 1} }}\n" for n in range(30))
    document = (
        "{ tasks(limit: 2) { ...F0 } }\n"
        + fragments
        + "fragment F30 on Task { preview { base64 } }"
    )
    # 2 tasks x 2^30 spreads: a count, not an expansion (this returns at once).
    assert count(document) == 2 * 2**30


def test_mutations_count_too() -> None:
    mutation = 'mutation { cancelTask(id: "x") { result { image { base64 } } } }'
    assert count(mutation) == 1
