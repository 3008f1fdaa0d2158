"""ATELIER_TRUSTED_DOCUMENTS is read once at start: a map that is not what codegen
writes stops the server with a message, rather than trusting nothing or everything."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from graph.trusted import TrustedDocuments
from project.config import load

TASK = "query Task($id: ID!) {\n  task(id: $id) {\n    id\n  }\n}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_document_is_trusted_by_its_text_however_formatted_and_nothing_else() -> None:
    documents = TrustedDocuments.from_json(json.dumps({sha(TASK): TASK}))
    assert documents.document(sha(TASK)) == TASK
    assert documents.trusts(TASK)
    assert documents.trusts("query Task($id: ID!) { task(id: $id) { id } }")
    assert not documents.trusts("query Task($id: ID!) { task(id: $id) { id status } }")
    assert not documents.trusts("{ task(id: 1) {")  # not GraphQL at all
    assert not documents.trusts(TASK + " " * len(TASK) * 2)  # too long to be one, unparsed


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{not json", "not JSON"),
        ('{"abc": 1}', "not a map of hash to document"),
        (json.dumps({"0" * 64: TASK}), "does not hash to it"),
        (json.dumps({sha("query {"): "query {"}), "is not GraphQL"),
    ],
)
def test_a_map_that_is_not_codegen_s_stops_the_server(value: str, says: str) -> None:
    with pytest.raises(SystemExit, match=f"ATELIER_TRUSTED_DOCUMENTS: .*{says}"):
        load({"ATELIER_TRUSTED_DOCUMENTS": value})


def test_the_map_is_read_from_a_file_or_inline(tmp_path: Path) -> None:
    text = json.dumps({sha(TASK): TASK})
    (tmp_path / "persisted.json").write_text(text)
    from_file = load({"ATELIER_TRUSTED_DOCUMENTS": str(tmp_path / "persisted.json")})
    inline = load({"ATELIER_TRUSTED_DOCUMENTS": text})
    assert from_file.trusted_documents == inline.trusted_documents
    assert from_file.trusted_documents is not None
    assert load({}).trusted_documents is None
    with pytest.raises(SystemExit, match=r"ATELIER_TRUSTED_DOCUMENTS: .*No such file"):
        load({"ATELIER_TRUSTED_DOCUMENTS": str(tmp_path / "missing.json")})
