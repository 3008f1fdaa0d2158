"""Standard Webhooks signatures (https://www.standardwebhooks.com): the headers that
let a receiver check a delivery with any of the specification's libraries."""

from __future__ import annotations

import base64
import hashlib
import hmac


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret; ValueError when it is not one."""
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret looks like whsec_<base64>")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError as error:
        raise ValueError("a webhook secret looks like whsec_<base64>") from error
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
