"""Validating a document before it runs: bounded work, no hints for strangers, once per text.

- **Bounded work.** graphql-core meters two kinds of validation work that grow faster
  than a document: comparisons between fields of one response name
  (OverlappingFieldsCanBeMergedRule: `{ __typename __typename ... }` is quadratic), and
  fragment spreads and variable uses followed once per operation (many operations
  sharing a chain of fragments). Its own budgets let a 2,000-token document hold the
  web process's event loop for about a second; here each is held to
  `QueryLimits.max_validation_work`, and a document that needs more is refused with
  `TOO_MUCH_WORK` (code BAD_USER_INPUT) before anything runs.
- **Shape limits**: depth and aliases, measured once per fragment (`graph.depth`).
- **No suggestions** ("Did you mean 'submitTask'?") while introspection is off: they
  would hand the schema to a stranger one typo at a time.
- **Off the event loop**: validating takes time in proportion to a document (tens of
  milliseconds for 2,000 tokens on a busy machine); it runs on two threads of its own,
  so other requests (and /healthz) are answered meanwhile.
- **Once per text**: thousands of subscribers send the same few documents, so the
  errors of the last few hundred distinct (short) texts are kept, and answered at once.
- **Never an exception**: a failure inside validation becomes an error of the response
  (INTERNAL, logged by `graph.masking`) rather than an exception out of the operation,
  which strawberry would answer uncoded over HTTP and not at all over the websocket.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from graphql import DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.validation import (
    ASTValidationRule,
    OverlappingFieldsCanBeMergedRule,
    ValidationContext,
    ValidationRule,
)
from graphql.validation import validation_context as graphql_context
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from actors.interface import Recent
from graph.depth import shape_limits
from graph.limits import QueryLimits

TOO_MUCH_WORK = (
    "the document takes too much work to validate: fields selected many times over in one "
    "selection set, fragments shared by many operations, or fragments nested too deeply"
)
# What graphql-core says when one of its work budgets runs out, or fragments nest past
# its limit (200), as opposed to "Too many validation errors, ...".
_ABORTED = "Validation aborted."

# Documents remembered are those sent again and again (a frontend's few operations); a
# text longer than this (an image inlined in the query) is validated but not kept.
REMEMBERED_CHARS = 20_000

Rules = tuple[type[ASTValidationRule], ...]


def _merging_within(budget: int) -> type[ValidationRule]:
    class OverlappingFieldsWithinBudget(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            remaining = self.rule_context.remaining_complexity_budget
            self.rule_context.remaining_complexity_budget = min(remaining, budget)

    return OverlappingFieldsWithinBudget


def _fragment_work_within(budget: int) -> type[ValidationRule]:
    class FragmentWorkWithinBudget(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            # graphql-core's budget is a module constant: spend at once what ours leaves out.
            surplus = graphql_context.MAX_FRAGMENT_WORK - budget
            if surplus > 0:
                context.spend_fragment_work(surplus)

    return FragmentWorkWithinBudget


class DocumentChecks:
    """How one schema validates documents: its limits, its validation threads, and the
    recent results."""

    def __init__(self, limits: QueryLimits, remembered: int = 256) -> None:
        self.hide_suggestions = not limits.introspection
        self._merging = _merging_within(limits.max_validation_work)
        self._ours: Rules = (
            MaybeNullValidationRule,
            OneOfInputValidationRule,
            _fragment_work_within(limits.max_validation_work),
            shape_limits(limits.max_depth, limits.max_aliases),
        )
        self._recent: Recent[tuple[str, Rules], list[GraphQLError]] = Recent(remembered)
        # Validation is pure Python and its cost grows with the document: off the event
        # loop, on threads of its own, a large document delays no other request (nor
        # waits behind image decoding on the default executor).
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="validation")

    async def errors(
        self, schema: GraphQLSchema, text: str | None, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        """What is wrong with `document` (parsed from `text`); `rules` are those the
        operation carries (graphql-core's, and any an extension added)."""
        key = (text, rules) if text is not None and len(text) <= REMEMBERED_CHARS else None
        known = self._recent.get(key) if key is not None else None
        if known is not None:
            return list(known)
        loop = asyncio.get_running_loop()
        errors = await loop.run_in_executor(
            self._threads, functools.partial(self.check, schema, document, rules)
        )
        if key is not None and not any(error.original_error for error in errors):
            self._recent.put(key, errors)
        return list(errors)

    def check(
        self, schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        """`errors`, at once and on this thread, remembering nothing."""
        chosen = [
            self._merging if rule is OverlappingFieldsCanBeMergedRule else rule for rule in rules
        ]
        try:
            found = validate(
                schema, document, [*chosen, *self._ours], hide_suggestions=self.hide_suggestions
            )
        except Exception as error:  # never out of the operation: see the module
            return [GraphQLError("the document could not be validated", original_error=error)]
        return [_explained(error) for error in found]

    def extension(self) -> Callable[[], SchemaExtension]:
        """For `strawberry.Schema(extensions=...)`: one extension per operation."""
        return lambda: DocumentValidation(self)


def _explained(error: GraphQLError) -> GraphQLError:
    if isinstance(error, ValidationAbortedError) and error.message == _ABORTED:
        return GraphQLError(TOO_MUCH_WORK, extensions={"code": "BAD_USER_INPUT"})
    return error


class DocumentValidation(SchemaExtension):
    """Validates the operation's document with `DocumentChecks` instead of strawberry."""

    def __init__(self, checks: DocumentChecks) -> None:
        self.checks = checks

    async def on_validate(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if execution.graphql_document is not None:
            # Set before strawberry's turn: it validates only what nothing has.
            execution.pre_execution_errors = await self.checks.errors(
                execution.schema._schema,
                execution.query,
                execution.graphql_document,
                execution.validation_rules,
            )
        yield
