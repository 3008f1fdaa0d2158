"""When a failed delivery is tried again: exponential backoff with jitter."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after the `attempt`-th (1 = the first) failed:
    `base * 2**(attempt-1)` up to `cap`, then a random half to whole of it, so that
    deliveries that failed together do not come back together."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())
