"""ATELIER_WEBHOOK_SECRETS, each caller's own webhook secret, is checked at start as
ATELIER_WEBHOOK_SECRET is: a malformed secret, or a name that is no configured
caller's (a typo would sign with the shared secret, or refuse), stops the process
with a message that names the variable and the caller, never the secret."""

from __future__ import annotations

import base64

import pytest

from project.config import load

ALICE_SECRET = "whsec_" + base64.b64encode(b"alice-own-webhook-secret-0123").decode()
BOB_SECRET = "whsec_" + base64.b64encode(b"bob-own-webhook-secret-987654").decode()
SHARED = "whsec_" + base64.b64encode(b"the-shared-webhook-secret-000").decode()
KEYS = {"ATELIER_API_KEYS": "alice:k1,bob:k2", "ATELIER_ADMIN_KEYS": "ops:k3"}


def test_each_caller_signs_with_its_own_secret_else_the_shared_one() -> None:
    secrets = f"alice={ALICE_SECRET}, ops={BOB_SECRET}"
    env = {**KEYS, "ATELIER_WEBHOOK_SECRETS": secrets, "ATELIER_WEBHOOK_SECRET": SHARED}
    hooks = load(env).jobs.webhooks
    assert hooks.secrets == {"alice": ALICE_SECRET, "ops": BOB_SECRET}
    assert hooks.secret_for("alice") == ALICE_SECRET
    assert hooks.secret_for("ops") == BOB_SECRET
    assert hooks.secret_for("bob") == SHARED
    assert hooks.secret_for(None) == SHARED
    # The submit check sees the same settings.
    assert load(env).limits.webhooks == hooks


def test_without_a_shared_secret_only_callers_with_their_own_have_webhooks() -> None:
    hooks = load({**KEYS, "ATELIER_WEBHOOK_SECRETS": f"bob={BOB_SECRET}"}).jobs.webhooks
    assert hooks.secret_for("bob") == BOB_SECRET
    assert hooks.secret_for("alice") is None


def test_without_keys_the_anonymous_caller_may_have_a_secret() -> None:
    hooks = load({"ATELIER_WEBHOOK_SECRETS": f"anonymous={ALICE_SECRET}"}).jobs.webhooks
    assert hooks.secret_for("anonymous") == ALICE_SECRET


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        (f"carol={ALICE_SECRET}", "'carol' is not a configured caller"),
        (f"anonymous={ALICE_SECRET}", "'anonymous' is not a configured caller"),
        (f"alice={ALICE_SECRET},alice={BOB_SECRET}", "'alice' is given more than one secret"),
        ("alice=whsec_QUJD", "'alice''s secret: a webhook secret needs at least 16 bytes"),
        ("alice=plain-text-secret", "'alice''s secret: a webhook secret looks like whsec_"),
        (ALICE_SECRET, "expected name=whsec_<base64> pairs, got 'whse…'"),
        (f"bob={BOB_SECRET},alice=", "expected name=whsec_<base64> pairs"),
    ],
)
def test_a_secret_that_would_not_work_as_written_stops_the_start(
    secrets: str, expected: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        load({**KEYS, "ATELIER_WEBHOOK_SECRETS": secrets})
    message = str(refused.value)
    assert message.startswith("ATELIER_WEBHOOK_SECRETS: ")
    assert expected in message
    for secret in (ALICE_SECRET, BOB_SECRET, "plain-text-secret"):
        assert secret.removeprefix("whsec_")[:8] not in message


def test_a_malformed_shared_secret_still_stops_the_start() -> None:
    with pytest.raises(SystemExit, match="ATELIER_WEBHOOK_SECRET: "):
        load({"ATELIER_WEBHOOK_SECRET": "whsec_QUJD"})
