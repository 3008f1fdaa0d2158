"""What one response may cost, counted from the document before anything runs.

An image inline (`Image.base64`) is up to megabytes; a list multiplies whatever its
items select. Fifteen aliases of `tasks(limit: 6) { result { image { base64 } } }`,
a 1 KB document, built a 318 MB response. Here an operation's inline images are
counted the way it would resolve them (each list field counted at its `limit`
argument, or its default; `TaskResult.images` at the most images a result may hold,
`ATELIER_MAX_IMAGES`), fragments once each, and an operation that could return
more than `max_inline_images` is refused whole with `RESPONSE_TOO_LARGE` before a
resolver runs. Galleries use `url`, which costs a few hundred bytes an image.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from graph.errors import ApiError
from graph.limits import MAX_IMAGES_PER_TASK

INLINE = ("Image", "base64")
# A list field with neither a `limit` argument nor a known size: counted as this many.
UNBOUNDED_LIST = 100
# The list of a result's images, whose size configuration bounds.
RESULT_IMAGES = ("TaskResult", "images")


class ResponseTooLarge(ApiError):
    code = "RESPONSE_TOO_LARGE"


def inline_images(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    *,
    images_per_task: int = MAX_IMAGES_PER_TASK,
) -> int:
    """How many images `operation` could return inline, at most, when a result holds
    up to `images_per_task` images."""
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    sizes = {RESULT_IMAGES: images_per_task}
    return _Counter(schema, fragments, variables, sizes).count(operation.selection_set, root)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        sizes: Mapping[tuple[str, str], int],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._sizes = sizes  # (type, field) -> the most items of a list without `limit`
        self._memo: dict[str, int] = {}
        self._open: set[str] = set()  # spreads being counted: a cycle counts nothing

    def count(self, selections: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        total = 0
        for node in _selections(selections):
            if isinstance(node, FieldNode):
                total += self._field(node, parent)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                total += self.count(node.selection_set, inner or parent)
            elif isinstance(node, FragmentSpreadNode):
                total += self._spread(node.name.value)
        return total

    def _spread(self, name: str) -> int:
        if name in self._memo:
            return self._memo[name]
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0  # validation reports both
        self._open.add(name)
        inner = self._schema.get_type(fragment.type_condition.name.value)
        counted = self.count(fragment.selection_set, inner) if inner else 0
        self._open.discard(name)
        self._memo[name] = counted
        return counted

    def _field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        if (parent.name, node.name.value) == INLINE:
            return 1
        if not isinstance(parent, GraphQLObjectType) or node.selection_set is None:
            return 0  # interfaces and unions: none in this schema carries images
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0
        inner = self.count(node.selection_set, get_named_type(definition.type))
        return inner * self._items(node, definition, parent) if inner else 0

    def _items(self, node: FieldNode, definition: GraphQLField, parent: GraphQLNamedType) -> int:
        """How many items the field returns at most: 1 unless it is a list."""
        kind = definition.type
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if not isinstance(kind, GraphQLList):
            return 1
        known = self._sizes.get((parent.name, node.name.value))
        if known is not None:
            return max(0, known)
        limit = self._argument(node, "limit")
        if limit is None and "limit" in definition.args:
            default = definition.args["limit"].default_value
            limit = default if isinstance(default, int) else None
        return max(0, limit) if limit is not None else UNBOUNDED_LIST

    def _argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self._variables.get(value.name.value)
                return given if isinstance(given, int) else None
        return None


def _selections(selections: SelectionSetNode | None) -> Iterator[Any]:
    return iter(selections.selections if selections is not None else ())


class InlineImageBudget(SchemaExtension):
    """Refuses a query or mutation that could return more than `max_images` inline
    images, a result holding up to `images_per_task` (see the module's docstring);
    subscriptions send one task at a time."""

    def __init__(self, *, max_images: int, images_per_task: int = MAX_IMAGES_PER_TASK) -> None:
        self.max_images = max_images
        self.images_per_task = images_per_task

    def on_execute(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document else None
        if operation is not None and operation.operation is not OperationType.SUBSCRIPTION:
            assert document is not None
            schema = context.schema._schema
            count = inline_images(
                schema,
                document,
                operation,
                context.variables or {},
                images_per_task=self.images_per_task,
            )
            if count > self.max_images:
                error = ResponseTooLarge(
                    f"this operation could return {count} images inline (base64); at most "
                    f"{self.max_images} are allowed in one response: select `url` instead, "
                    "or ask for fewer",
                    limit=self.max_images,
                    requested=count,
                )
                context.result = ExecutionResult(data=None, errors=[error])
        yield
