"""Trusted documents: with `ATELIER_TRUSTED_DOCUMENTS` set, only the operations a
frontend was built with run; any other document is refused before it is parsed.

The map is what graphql-codegen's client preset writes as persisted documents (and
clients/typescript's `npm run persist` writes): `{"<sha256 hex of the text>": "<text>"}`.
A request names its document either by hash, as Apollo's persisted-query link sends it
(`extensions.persistedQuery.sha256Hash`, no `query`), or by its full text. A text is
trusted when its SHA-256 is in the map, or when it prints (graphql-core's `print`) the
same as a trusted document: a client that formats the same operation differently is
not refused for whitespace.

Refused: an unknown hash (`PERSISTED_QUERY_NOT_FOUND`, the code Apollo's link knows),
a text that is no trusted document, or a hash and a text that disagree
(`UNTRUSTED_DOCUMENT`). The same holds over HTTP and the websocket, for queries,
mutations and subscriptions; introspection is one more document, refused unless trusted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, parse, print_ast
from strawberry.extensions import SchemaExtension

from actors.interface import Recent
from graph.errors import ApiError


class PersistedQueryNotFound(ApiError):
    code = "PERSISTED_QUERY_NOT_FOUND"


class UntrustedDocument(ApiError):
    code = "UNTRUSTED_DOCUMENT"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _printed(text: str) -> str | None:
    try:
        return print_ast(parse(text, no_location=True))
    except GraphQLError:
        return None


@dataclass(frozen=True)
class TrustedDocuments:
    """The documents that may run, by hash, and by the hash of their printed form."""

    by_hash: Mapping[str, str]
    printed_hashes: frozenset[str] = field(default=frozenset())
    # The longest trusted text, doubled: a longer text cannot print as a trusted one
    # (printing only trims), so it is refused without being parsed.
    longest: int = 0

    @classmethod
    def from_json(cls, text: str) -> TrustedDocuments:
        """The map as codegen writes it; ValueError saying what is wrong otherwise."""
        try:
            documents = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(documents, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in documents.items()
        ):
            raise ValueError('not a map of hash to document: {"<sha256>": "query ..."}')
        return cls.of(documents)

    def including(self, documents: Mapping[str, str]) -> TrustedDocuments:
        """These and `documents` (hash -> text, checked as the map is)."""
        return self.of({**self.by_hash, **documents})

    @classmethod
    def of(cls, documents: Mapping[str, str]) -> TrustedDocuments:
        """From hash -> text; ValueError when a text is not GraphQL or not its hash's."""
        printed = set()
        for digest, document in documents.items():
            if sha256(document) != digest:
                raise ValueError(f"the document of {digest[:12]}... does not hash to it")
            normal = _printed(document)
            if normal is None:
                raise ValueError(f"the document of {digest[:12]}... is not GraphQL")
            printed.add(sha256(normal))
        longest = 2 * max((len(document) for document in documents.values()), default=0)
        return cls(by_hash=documents, printed_hashes=frozenset(printed), longest=longest)

    def document(self, digest: str) -> str | None:
        return self.by_hash.get(digest)

    def trusts(self, text: str) -> bool:
        if sha256(text) in self.by_hash:
            return True
        if len(text) > self.longest:
            return False
        normal = _printed(text)
        return normal is not None and sha256(normal) in self.printed_hashes


# What runs in place of a refused document: it parses and validates at no cost, and
# lets the refusal reach the client as a validation error, which every transport
# answers as one (an exception this early would end a websocket operation silently).
REFUSED = "query Refused { __typename }"


class TrustedOnly(SchemaExtension):
    """Fills in the document a request names by hash, and refuses what is not trusted,
    before anything is parsed or validated."""

    def __init__(self, *, documents: TrustedDocuments, verdicts: Recent[str, bool]) -> None:
        self.documents = documents
        self.verdicts = verdicts  # text -> trusted: the same few texts come again and again
        self.refusal: ApiError | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        self.refusal = self._refusal(context.query, context.operation_extensions)
        if self.refusal is not None:
            context.query = REFUSED
        yield

    def on_validate(self) -> Iterator[None]:
        # Last of the schema's extensions, so set after any other's errors and before
        # strawberry's check of them (within this hook's span, not after it).
        if self.refusal is not None:
            self.execution_context.pre_execution_errors = [self.refusal]
        yield

    def _refusal(self, query: str | None, extensions: Mapping[str, Any] | None) -> ApiError | None:
        digest = _persisted_hash(extensions)
        if digest is not None:
            document = self.documents.document(digest)
            if document is None:
                return PersistedQueryNotFound(
                    "no trusted document has this hash: send one the server was built with",
                    hash=digest,
                )
            if query and query != document:
                return UntrustedDocument("the query sent is not the document of its hash")
            self.execution_context.query = document
            return None
        if query is not None and not self._trusted(query):
            return UntrustedDocument(
                "only the server's trusted documents run here (ATELIER_TRUSTED_DOCUMENTS); "
                "this one is not among them"
            )
        return None

    def _trusted(self, text: str) -> bool:
        if len(text) > self.documents.longest:  # refused unparsed, and not remembered
            return False
        return bool(self.verdicts.get_or_make(text, lambda: self.documents.trusts(text)))


def _persisted_hash(extensions: Mapping[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if isinstance(persisted, Mapping) and isinstance(persisted.get("sha256Hash"), str):
        return str(persisted["sha256Hash"])
    return None
