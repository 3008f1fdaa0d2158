"""The webhook settings from the environment (see README, Webhooks)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from actors.webhooks.config import WebhookSettings
from actors.webhooks.signing import secret_bytes


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or ""
    try:
        value = float(text) if text else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {text!r}") from None
    if value < 0:
        raise SystemExit(f"{name} may not be negative")
    return value


def _checked(secret: str, where: str) -> str:
    try:
        secret_bytes(secret)
    except ValueError as error:
        raise SystemExit(f"{where}: {error}") from None
    return secret


def _secrets(text: str, callers: Collection[str]) -> dict[str, str]:
    """`alice=whsec_...,bob=whsec_...`: each caller's own secret. A name that is no
    caller's is refused (a typo would sign with the shared secret, or refuse), and so
    is a name given twice. Messages never show a secret."""
    variable = "ATELIER_WEBHOOK_SECRETS"
    secrets: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, secret = (part.strip() for part in item.partition("="))
        if not sep or not name or not secret:
            shown = item if len(item) <= 8 else f"{item[:4]}…"
            raise SystemExit(f"{variable}: expected name=whsec_<base64> pairs, got {shown!r}")
        if name not in callers:
            known = ", ".join(sorted(callers))
            raise SystemExit(
                f"{variable}: {name!r} is not a configured caller (the names of "
                f"ATELIER_API_KEYS and ATELIER_ADMIN_KEYS: {known})"
            )
        if name in secrets:
            raise SystemExit(f"{variable}: {name!r} is given more than one secret")
        secrets[name] = _checked(secret, f"{variable}: {name!r}'s secret")
    return secrets


def webhook_settings(env: Mapping[str, str], callers: Collection[str]) -> WebhookSettings:
    """`callers`: the names tasks belong to (the API keys' names, or the one anonymous
    caller without keys)."""
    secret = env.get("ATELIER_WEBHOOK_SECRET") or None
    if secret is not None:
        _checked(secret, "ATELIER_WEBHOOK_SECRET")
    defaults = WebhookSettings()
    hosts = env.get("ATELIER_WEBHOOK_ALLOW_HOSTS", "")
    return WebhookSettings(
        secret=secret,
        secrets=_secrets(env.get("ATELIER_WEBHOOK_SECRETS", ""), callers),
        retries=int(_number(env, "ATELIER_WEBHOOK_RETRIES", defaults.retries)),
        backoff=_number(env, "ATELIER_WEBHOOK_BACKOFF", defaults.backoff),
        backoff_cap=_number(env, "ATELIER_WEBHOOK_BACKOFF_CAP", defaults.backoff_cap),
        timeout=_number(env, "ATELIER_WEBHOOK_TIMEOUT", defaults.timeout) or defaults.timeout,
        allow_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        poll_every=_number(env, "ATELIER_WEBHOOK_POLL", defaults.poll_every) or 0.25,
        lease_seconds=_number(env, "ATELIER_WEBHOOK_LEASE", defaults.lease_seconds) or 30.0,
    )
