"""API keys that would silently not work as written are refused at start, by name.

`ATELIER_API_KEYS="alice:k1,alice:k2"` used to keep only alice's last key: the first
stopped working without a word. A name given twice, or one key given to two names, is
now a configuration error, in the variable and in a keys file alike.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from project.config import load
from tests.stack import BIN, ROOT


def test_distinct_names_and_keys_are_accepted_from_the_variable_and_from_a_file(
    tmp_path: Path,
) -> None:
    assert load({"ATELIER_API_KEYS": " alice:k1 , bob:k2 ,"}).api_keys == {
        "k1": "alice",
        "k2": "bob",
    }
    keys = tmp_path / "keys"
    keys.write_text("alice:k1\nbob:k2\n\n")
    assert load({"ATELIER_API_KEYS": str(keys)}).api_keys == {"k1": "alice", "k2": "bob"}


@pytest.mark.parametrize("variable", ["ATELIER_API_KEYS", "ATELIER_ADMIN_KEYS"])
def test_a_name_given_two_keys_is_refused_naming_it(variable: str) -> None:
    with pytest.raises(SystemExit) as refused:
        load({variable: "alice:first-key,bob:other-key,alice:second-key"})

    message = str(refused.value)
    assert message.startswith(f"{variable}: the name 'alice' is given more than one key")
    assert "first-key" not in message and "second-key" not in message


def test_a_name_given_two_keys_in_a_keys_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("alice:first-key\nalice:second-key\n")

    with pytest.raises(SystemExit) as refused:
        load({"ATELIER_API_KEYS": str(keys)})

    assert str(refused.value).startswith(f"ATELIER_API_KEYS (the file {keys}): the name 'alice'")


def test_one_key_given_two_names_is_refused_without_showing_it() -> None:
    with pytest.raises(SystemExit) as refused:
        load({"ATELIER_API_KEYS": "alice:shared-key,bob:shared-key"})

    message = str(refused.value)
    assert message == "ATELIER_API_KEYS: 'alice' and 'bob' are given the same key"


def test_a_malformed_entry_is_refused_without_showing_a_whole_key() -> None:
    with pytest.raises(SystemExit) as refused:
        load({"ATELIER_API_KEYS": "alice:k1,secret-looking-key"})

    assert str(refused.value) == "ATELIER_API_KEYS: expected name:key pairs, got 'secr…'"


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "daphne"), "--port", "0", "project.asgi:application"],
        [str(BIN / "dramatiq"), "project.worker", "--processes", "1", "--threads", "1"],
    ],
    ids=["web", "worker"],
)
def test_web_and_worker_refuse_to_start_with_a_name_given_two_keys(command: list[str]) -> None:
    env = {
        "PATH": str(BIN),
        "ATELIER_API_KEYS": "alice:first-key,alice:second-key",
        # Nothing may be reached before the configuration is read.
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)

    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode != 0, output
    assert "ATELIER_API_KEYS: the name 'alice' is given more than one key" in output, output


# -- ATELIER_PRIORITY_KEYS -----------------------------------------------------------------

KEYS = {"ATELIER_API_KEYS": "alice:k1,bob:k2", "ATELIER_ADMIN_KEYS": "ops:k3"}


def test_high_priority_is_the_admins_by_default_or_whom_the_variable_names() -> None:
    assert load(KEYS).limits.high_priority_callers == {"ops"}
    named = load({**KEYS, "ATELIER_PRIORITY_KEYS": " alice , ops "})
    assert named.limits.high_priority_callers == {"alice", "ops"}
    assert load({**KEYS, "ATELIER_PRIORITY_KEYS": ""}).limits.high_priority_callers == set()
    # Without keys, everyone is the one anonymous caller, and the operator.
    assert load({}).limits.high_priority_callers == {"anonymous"}


def test_a_priority_key_that_names_no_caller_is_refused_at_start() -> None:
    with pytest.raises(SystemExit) as refused:
        load({**KEYS, "ATELIER_PRIORITY_KEYS": "alice,mallory"})

    message = str(refused.value)
    assert message.startswith("ATELIER_PRIORITY_KEYS: 'mallory' not a configured caller")
    assert "k1" not in message
