"""What the webhook deliverer needs to know, read from the environment by `project/`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

QUEUE = "webhooks"


class WebhookEvent(enum.StrEnum):
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    COMPLETED = "COMPLETED"  # any terminal status


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # `whsec_<base64>`; without it a submission with a webhook is refused.
    secret: str | None = None
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

    @property
    def enabled(self) -> bool:
        return bool(self.secret)
