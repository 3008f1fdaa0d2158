"""How deep a document nests and how many aliases it uses, each fragment measured once.

Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk a fragment again at every
spread: twenty fragments, each spreading the next twice, made them walk a million
paths (6 s of the web process's event loop, for an 826-byte document). Here a
fragment's measure is computed once and reused wherever it is spread, so a document
costs time linear in its size. The figures are theirs: a field with a selection set is
one level deeper than its deepest child, introspection fields (`__schema`, `__type`)
add no depth, and an aliased field counts once for every path that reaches it.

A fragment that spreads itself (directly or not), or one never defined, adds nothing
here: graphql-core's NoFragmentCyclesRule and KnownFragmentNamesRule report those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)


@dataclass(frozen=True, slots=True)
class _Path:
    """The fields of a deepest path, outermost first (a linked list: shared, never copied)."""

    field: FieldNode
    inner: _Path | None


@dataclass(frozen=True, slots=True)
class Shape:
    """A selection set's depth (nested fields with selection sets, on its deepest path)
    and aliases (every path that reaches an aliased field counts it)."""

    depth: int
    aliases: int
    deepest: _Path | None = None

    def field_at(self, level: int) -> FieldNode | None:
        """The field `level` levels down the deepest path (1: the outermost)."""
        path = self.deepest
        for _ in range(level - 1):
            path = path.inner if path is not None else None
        return path.field if path is not None else None


_NOTHING = Shape(0, 0)


class DocumentShapes:
    """The shape of each selection set of one document; fragments measured once."""

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._measured: dict[str, Shape] = {}
        self._open: set[str] = set()  # being measured: spreading one again is a cycle

    def of(self, selection_set: SelectionSetNode) -> Shape:
        depth, aliases, deepest = 0, 0, None
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue
                inner = self.of(selection.selection_set)
                aliases += inner.aliases
                if not selection.name.value.startswith("__") and inner.depth + 1 > depth:
                    depth, deepest = inner.depth + 1, _Path(selection, inner.deepest)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            else:  # pragma: no cover - the three kinds of selection
                continue
            aliases += inner.aliases
            if inner.depth > depth:
                depth, deepest = inner.depth, inner.deepest
        return Shape(depth, aliases, deepest)

    def _fragment(self, name: str) -> Shape:
        shape = self._measured.get(name)
        if shape is not None:
            return shape
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return _NOTHING
        self._open.add(name)
        try:
            shape = self.of(definition.selection_set)
        finally:
            self._open.discard(name)
        self._measured[name] = shape
        return shape


def shape_limits(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` and documents with
    more than `max_aliases` aliases (every operation's, fragments expanded)."""

    class ShapeLimits(ValidationRule):
        def enter_document(self, document: DocumentNode, *_args: Any) -> Any:
            # Measured here rather than in __init__: graphql-core turns a RecursionError
            # (fragments nested past the interpreter's limit) inside the visit into
            # an aborted validation, a client error.
            shapes = DocumentShapes(document)
            aliases = 0
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                shape = shapes.of(definition.selection_set)
                aliases += shape.aliases
                if shape.depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    self.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            shape.field_at(max_depth + 1) or definition,
                        )
                    )
            if aliases > max_aliases:
                self.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"))
            return self.SKIP  # all is said; nothing more to visit

    return ShapeLimits
