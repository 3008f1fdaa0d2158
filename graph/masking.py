"""Errors as clients see them: our own pass through, anything else becomes INTERNAL.

An unexpected error is logged with a short incident id, and only that id reaches
the client, so a report can be matched to the log without leaking internals.
Errors GraphQL itself raises for a malformed request (syntax, unknown fields,
wrong variable types) get `BAD_USER_INPUT`. The job system's store being out
(`StoreUnavailable`, from any resolver) is `SERVICE_UNAVAILABLE`, never INTERNAL.

With `hide_suggestions` (introspection off), no message suggests names ("Did you mean
'submitTask'?"): validation leaves them out (`graph.documents`); this catches the
rest, such as a variable's unknown input field, found while executing.
"""

from __future__ import annotations

import logging
import re
import uuid

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from actors.interface import StoreUnavailable
from graph.errors import UNAVAILABLE_MESSAGE, ServiceUnavailable

logger = logging.getLogger("atelier.graph")

# graphql-core's suggestion (graphql.pyutils.did_you_mean): names never hold a "?".
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


# Strawberry's own errors for a malformed request (no query, an operationName the
# document lacks, a mutation sent by GET): the client's, not a fault. Over plain HTTP
# strawberry answers them as a 400; over SSE and the websocket they reach the result.
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def _should_mask(error: GraphQLError) -> bool:
    # GraphQL's own errors (e.g. a variable of the wrong type) carry the scalar's
    # GraphQLError as their cause: they describe the request, not a fault.
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *_REQUEST_ERRORS))


class PublicErrors(MaskErrors):
    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__(should_mask_error=_should_mask)
        self.hide_suggestions = hide_suggestions

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._public(error) for error in errors]

    def _public(self, error: GraphQLError) -> GraphQLError:
        if isinstance(error.original_error, StoreUnavailable):  # logged by the schema
            return GraphQLError(
                message=UNAVAILABLE_MESSAGE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={
                    "code": ServiceUnavailable.code,
                    "retryAfter": error.original_error.retry_after,
                },
            )
        if _should_mask(error):
            return self.anonymise_error(error)
        if self.hide_suggestions and _SUGGESTION.search(error.message):
            error = GraphQLError(
                message=_SUGGESTION.sub("", error.message),
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions=error.extensions,
            )
        if "code" not in (error.extensions or {}):
            error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        return error

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        incident = uuid.uuid4().hex[:12]
        logger.error(
            "internal error (incident %s) at %s",
            incident,
            error.path,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"internal error (incident {incident})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "incident": incident},
        )
