"""What the webhook deliverer needs to know, read from the environment by `project/`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

QUEUE = "webhooks"


class WebhookEvent(enum.StrEnum):
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    COMPLETED = "COMPLETED"  # any terminal status


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A submission's webhook, checked: where, which WebhookEvent names, and the base
    URL the web was reached at (of the image links in its bodies without a public URL)."""

    url: str
    events: tuple[str, ...]
    base_url: str


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # `whsec_<base64>`, for every caller without a secret of its own in `secrets`
    # (caller name -> `whsec_<base64>`); a caller with neither has webhooks refused.
    secret: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    # Attempts after the first before a delivery is given up (about an hour by default).
    retries: int = 12
    # The first retry's delay; each next doubles, up to `backoff_cap`, with jitter.
    backoff: float = 5.0
    backoff_cap: float = 600.0
    timeout: float = 5.0
    # Host names, IPs or CIDRs admitted besides https URLs of public addresses.
    allow_hosts: tuple[str, ...] = ()
    # How often each worker looks for due deliveries, and how long a claimed one is
    # held before it comes due again (its worker died).
    poll_every: float = 0.25
    lease_seconds: float = 30.0
    # PROGRESS events: at most one per this many ms per task.
    progress_interval_ms: int = 500

    def secret_for(self, owner: str | None) -> str | None:
        """The secret that signs `owner`'s deliveries; None: webhooks are not theirs."""
        return (self.secrets.get(owner) if owner else None) or self.secret
