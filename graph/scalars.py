"""How the API writes its scalars: DateTime as ISO 8601 in UTC with a `Z`.

`2026-12-05T14:03:07.125Z` is what JavaScript's `Date.prototype.toISOString` writes, so
a client's own timestamps compare with ours as strings and `new Date(value)` reads
them in every engine (Python's default `+00:00` with microseconds is not in the one
format ECMAScript guarantees). Webhooks write times the same way (`utc_text`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig

from actors.interface import utc_text


def read_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time with an offset or `Z`; one without is refused, not guessed."""
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string, e.g. 2026-12-05T14:03:07.125Z")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: end it with Z or an offset")
    return parsed.astimezone(UTC)


DATETIME = strawberry.scalar(
    name="DateTime",
    description="A point in time: ISO 8601 in UTC with millisecond precision, "
    'e.g. "2026-12-05T14:03:07.125Z" (what JavaScript\'s toISOString writes).',
    specified_by_url="https://scalars.graphql.org/andimarek/date-time",
    serialize=utc_text,
    parse_value=read_datetime,
)

CONFIG = StrawberryConfig(scalar_map={datetime: DATETIME})
