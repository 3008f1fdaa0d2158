"""GraphQL errors with `extensions.code`; the only errors a client ever sees."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class ApiError(GraphQLError):
    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


class NotFound(ApiError):
    code = "NOT_FOUND"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    """A known caller asked for what its key does not allow (the operators' view)."""

    code = "FORBIDDEN"


class RateLimited(ApiError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, reason: str, retry_after: float) -> None:
        super().__init__(message, reason=reason, retryAfter=retry_after)


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"


UNAVAILABLE_MESSAGE = "the service is temporarily unavailable; try again shortly"


def unavailable(retry_after: float) -> ServiceUnavailable:
    """What a client sees while the job system's store is out or full (see
    `StoreUnavailable`): when to try again, as for a query or mutation."""
    return ServiceUnavailable(UNAVAILABLE_MESSAGE, retryAfter=retry_after)
