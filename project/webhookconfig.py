"""The webhook settings from the environment (see README, Webhooks)."""

from __future__ import annotations

from collections.abc import Mapping

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


def webhook_settings(env: Mapping[str, str]) -> WebhookSettings:
    secret = env.get("ATELIER_WEBHOOK_SECRET") or None
    if secret is not None:
        try:
            secret_bytes(secret)
        except ValueError as error:
            raise SystemExit(f"ATELIER_WEBHOOK_SECRET: {error}") from None
    defaults = WebhookSettings()
    hosts = env.get("ATELIER_WEBHOOK_ALLOW_HOSTS", "")
    return WebhookSettings(
        secret=secret,
        retries=int(_number(env, "ATELIER_WEBHOOK_RETRIES", defaults.retries)),
        backoff=_number(env, "ATELIER_WEBHOOK_BACKOFF", defaults.backoff),
        backoff_cap=_number(env, "ATELIER_WEBHOOK_BACKOFF_CAP", defaults.backoff_cap),
        timeout=_number(env, "ATELIER_WEBHOOK_TIMEOUT", defaults.timeout) or defaults.timeout,
        allow_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        poll_every=_number(env, "ATELIER_WEBHOOK_POLL", defaults.poll_every) or 0.25,
        lease_seconds=_number(env, "ATELIER_WEBHOOK_LEASE", defaults.lease_seconds) or 30.0,
    )
