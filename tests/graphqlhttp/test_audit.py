"""The GraphQL over HTTP audit against live web nodes: every MUST and SHOULD passes.

The audit is graphql-http's `auditServer` (github.com/graphql/graphql-http, maintained
beside the specification), locked in package-lock.json and run by audit.mjs. Its checks
that variables are accepted query `__type`, an introspection field: where introspection
is off, as in production, that document is refused like any introspection, so on such a
node exactly those checks fail, for that reason and no other.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.stack import ALICE_KEY, Stack

# The audits whose document selects `__type` (ids are the suite's own, stable).
INTROSPECTING = {
    "28B9": "MUST allow map {variables} parameter when accepting application/json",
    "2EA1": "SHOULD allow map {variables} parameter when accepting "
    "application/graphql-response+json",
    "D6D5": "MAY allow URL-encoded JSON string {variables} parameter in GETs when "
    "accepting application/graphql-response+json",
    "6A70": "MAY allow URL-encoded JSON string {variables} parameter in GETs when "
    "accepting application/json",
}


def audit(package: Path, stack: Stack) -> list[dict[str, Any]]:
    run = subprocess.run(
        ["node", "audit.mjs", f"{stack.http_url}/graphql", ALICE_KEY],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"node audit.mjs: exit {run.returncode}\n{run.stderr}"
    results: list[dict[str, Any]] = json.loads(run.stdout)
    assert len(results) >= 50, results  # the whole suite ran
    return results


def failures(results: list[dict[str, Any]], levels: tuple[str, ...]) -> dict[str, str]:
    """Failed audits of the given requirement levels, by id, with what the server said."""
    return {
        result["id"]: (
            f"{result['name']}: {result['reason']} "
            f"(HTTP {result.get('httpStatus')}: {result.get('body')})"
        )
        for result in results
        if result["status"] != "ok" and result["name"].split()[0] in levels
    }


def test_every_must_and_should_of_the_audit_passes(audit_package: Path, open_node: Stack) -> None:
    assert failures(audit(audit_package, open_node), ("MUST", "SHOULD")) == {}


def test_with_introspection_off_only_the_audits_that_introspect_fail(
    audit_package: Path, production_node: Stack
) -> None:
    failed = failures(audit(audit_package, production_node), ("MUST", "SHOULD", "MAY"))
    assert set(failed) <= set(INTROSPECTING), failed
    for reason in failed.values():
        assert "introspection has been disabled" in reason, reason
