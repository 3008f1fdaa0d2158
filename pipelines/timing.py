"""How long each phase of a run took, as every pipeline reports it in `metadata["timings"]`.

Keys are camelCase `<phase>Ms` in the order the phases first ran, then `totalMs`: the
time from the `Timings` being made to the end of its last phase, so it also counts
what ran between phases (progress callbacks). Values are milliseconds, rounded to 0.01.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Timings:
    """The clock of one run: at most one phase is open at a time."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started = self._ended = clock()
        self._seconds: dict[str, float] = {}
        self._open: tuple[str, float] | None = None

    def begin(self, name: str) -> None:
        """Close the open phase, if any, and open `name` at the same instant.

        For a boundary inside a call the pipeline cannot split, such as a callback
        that sees one phase end and the next start. A phase run twice adds up.
        """
        now = self._clock()
        self._close(now)
        self._open = (name, now)

    def end(self) -> None:
        """Close the open phase, if any."""
        if self._open is not None:
            self._close(self._clock())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as `name`; its end closes whichever phase is open by then."""
        self.begin(name)
        try:
            yield
        finally:
            self.end()

    def as_metadata(self) -> dict[str, float]:
        timings = {f"{name}Ms": _ms(seconds) for name, seconds in self._seconds.items()}
        timings["totalMs"] = _ms(self._ended - self._started)
        return timings

    def _close(self, now: float) -> None:
        if self._open is None:
            return
        name, since = self._open
        self._seconds[name] = self._seconds.get(name, 0.0) + now - since
        self._ended = now
        self._open = None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
