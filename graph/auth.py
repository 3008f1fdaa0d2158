"""API keys: who is calling. Only hashes of the keys are kept in memory."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

ANONYMOUS = "anonymous"


class Authenticator:
    def __init__(self, keys: Mapping[str, str]) -> None:
        """`keys` maps each API key to its owner's name."""
        self._hashes = [(_digest(key), owner) for key, owner in keys.items()]

    @property
    def open(self) -> bool:
        """No keys configured: local development, everyone is one anonymous caller."""
        return not self._hashes

    def caller(self, authorization: str | None) -> str | None:
        """The owner for an `Authorization: Bearer <key>` value, or None if not valid."""
        if self.open:
            return ANONYMOUS
        scheme, _, key = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        digest = _digest(key.strip())
        found = None
        for known, owner in self._hashes:  # every key compared: no timing tells which
            if hmac.compare_digest(known, digest):
                found = owner
        return found


@dataclass(frozen=True, slots=True)
class Operators:
    """Who may see the operators' view (`Query.operations`): the callers named by
    admin keys, or everyone when no keys are configured at all (local development,
    where the one anonymous caller is also the operator)."""

    names: frozenset[str] = frozenset()
    everyone: bool = False

    def admit(self, caller: str) -> bool:
        return self.everyone or caller in self.names


def _digest(key: str) -> bytes:
    # surrogatepass: a key with a lone surrogate (from JSON) is just a wrong key.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
