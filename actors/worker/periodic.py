"""A call repeated in a thread of a worker process (the sweep, the webhook dispatch),
riding out Redis outages: one warning when one starts, nothing more until it ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from actors.store.outage import OUTAGES, full_named

logger = logging.getLogger(__name__)


class Periodic:
    """Runs `call` every `every` seconds until stopped; at once on start unless
    `wait_first`. `what` names it in the log ("sweep", "webhook dispatch")."""

    def __init__(
        self, what: str, call: Callable[[], object], every: float, *, wait_first: bool = False
    ) -> None:
        self._what = what
        self._call = call
        self._every = every
        self._wait_first = wait_first
        self._stop = threading.Event()
        name = "atelier-" + what.replace(" ", "-")
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._every + 5)

    def _loop(self) -> None:
        down = False
        if self._wait_first and self._stop.wait(self._every):
            return
        while True:
            try:
                # Redis 6 words a full Redis's refusal of Dramatiq's script (sending a
                # message) as a plain script error: named here as the outage it is.
                with full_named():
                    self._call()
            except OUTAGES as error:
                if not down:
                    logger.warning("%s skipped, Redis unavailable: %s", self._what, error)
                down = True
            except Exception:
                logger.exception("%s failed", self._what)
            else:
                down = False
            if self._stop.wait(self._every):
                return
