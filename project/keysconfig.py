"""Who may call: the API keys and admin keys from the environment, and who of them may
submit HIGH priority tasks (see README, Configuration)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from graph.auth import ANONYMOUS


def _api_keys(text: str, variable: str) -> dict[str, str]:
    """`alice:<key>,bob:<key>`, or a path to a file with one `name:key` per line; each
    key -> its name. A name given twice, or a key given twice, is refused: either way
    one of the two would silently stop working (or be someone else's)."""
    source = variable
    if text and Path(text).is_file():
        source = f"{variable} (the file {text})"
        text = ",".join(Path(text).read_text().split())
    keys: dict[str, str] = {}
    names: set[str] = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, key = (part.strip() for part in item.partition(":"))
        if not sep or not name or not key:
            raise SystemExit(f"{source}: expected name:key pairs, got {_redacted(item)!r}")
        if name in names:
            raise SystemExit(
                f"{source}: the name {name!r} is given more than one key; a name has one "
                "key (give each client its own name)"
            )
        if key in keys:
            raise SystemExit(f"{source}: {keys[key]!r} and {name!r} are given the same key")
        names.add(name)
        keys[key] = name
    return keys


def _redacted(item: str) -> str:
    """A malformed entry as an error message may show it: never a whole key."""
    return item if len(item) <= 8 else f"{item[:4]}…"


def keys(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(every valid key, the admin keys), each key -> name.

    Tasks belong to names, so an admin's name must be its own: a name given both
    an ordinary key and an admin key, or one key given two names, is refused.
    """
    ordinary = _api_keys(env.get("ATELIER_API_KEYS", ""), "ATELIER_API_KEYS")
    admin = _api_keys(env.get("ATELIER_ADMIN_KEYS", ""), "ATELIER_ADMIN_KEYS")
    for key, name in admin.items():
        if ordinary.get(key, name) != name:
            raise SystemExit(f"ATELIER_ADMIN_KEYS: {name!r}'s key is also {ordinary[key]!r}'s")
    shared = {name for key, name in ordinary.items() if key not in admin} & {*admin.values()}
    if shared:
        names = ", ".join(sorted(shared))
        raise SystemExit(f"ATELIER_ADMIN_KEYS: {names} also named in ATELIER_API_KEYS")
    return {**ordinary, **admin}, admin


def priority_callers(
    env: Mapping[str, str], callers: Collection[str], admins: Collection[str]
) -> frozenset[str]:
    """Who may submit HIGH priority tasks (`ATELIER_PRIORITY_KEYS`: caller names);
    by default the admin keys' callers, and the one anonymous caller without keys."""
    text = env.get("ATELIER_PRIORITY_KEYS")
    if text is None:
        return frozenset(admins) if callers != {ANONYMOUS} else frozenset({ANONYMOUS})
    names = frozenset(filter(None, (part.strip() for part in text.split(","))))
    unknown = sorted(names - set(callers))
    if unknown:
        raise SystemExit(
            f"ATELIER_PRIORITY_KEYS: {', '.join(map(repr, unknown))} not a configured caller "
            f"(the names of ATELIER_API_KEYS and ATELIER_ADMIN_KEYS: {', '.join(sorted(callers))})"
        )
    return names
