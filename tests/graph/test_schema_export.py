"""The committed schema.graphql is the code's schema, and keeps the names clients use."""

from pathlib import Path

from graph.export import sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), "schema.graphql is stale: run `make schema`"


def test_schema_keeps_the_contract_names() -> None:
    text = sdl()
    for name in (
        "submitTask(input: SubmitTaskInput!, idempotencyKey: String",
        "cancelTask(id: ID!): Task!",
        "task(id: ID!): Task",
        "tasks(status: TaskStatus = null, limit: Int! = 20): [Task!]!",
        "taskProgress(id: ID!): Task!",
        "input SubmitTaskInput @oneOf",
        "enum TaskStatus",
        "queuePosition: Int",
    ):
        assert name in text, name
