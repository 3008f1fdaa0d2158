"""Frames held back from a websocket client that is not reading, coalesced per operation.

While the client keeps up, frames go straight out. Once its socket stops taking
bytes (see `project.edge.backpressure`), frames wait here instead, and an operation's
newer result replaces its older one still waiting: each `taskProgress` event is the
whole task, so a late client skips intermediate states but keeps their order, and
never loses a terminal state, an `error` or a `complete`, which are never replaced.
An operation that streams several tasks (`myTasks`) has its results replaced per
task (the `subject` of a result, the id it selected), so one task's state never
hides another's. What waits is then at most one result per operation and task,
plus a few control frames, and `bytes` says how much; past the connection's limit
the socket is closed (`SLOW_CLIENT`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Results an operation's newer result supersedes, in either protocol.
_RESULTS = frozenset({"next", "data"})

SLOW_CLIENT = (4413, "Client too slow: send buffer limit exceeded")


@dataclass(slots=True)
class _Frame:
    op: str | None
    text: str
    subject: str | None = None

    @property
    def stream(self) -> tuple[str | None, str | None]:
        return self.op, self.subject


class Outbox:
    def __init__(self) -> None:
        self._frames: deque[_Frame] = deque()
        # An operation's waiting result (per subject), while it is that operation's
        # last waiting frame of the subject.
        self._latest: dict[tuple[str | None, str | None], _Frame] = {}
        self.bytes = 0

    def __bool__(self) -> bool:
        return bool(self._frames)

    def put(self, kind: str | None, op: str | None, text: str, subject: str | None = None) -> bool:
        """Queue a frame; True if it replaced a waiting result of its operation about
        the same `subject` (None: the operation's only one)."""
        frame = _Frame(op, text, subject)
        if op is not None and kind in _RESULTS:
            waiting = self._latest.get(frame.stream)
            if waiting is not None:
                self.bytes += len(text) - len(waiting.text)
                waiting.text = text
                return True
        self._frames.append(frame)
        self.bytes += len(text)
        if op is not None:
            if kind in _RESULTS:
                self._latest[frame.stream] = frame
            else:  # an error or complete: nothing may overtake it
                for stream in [s for s in self._latest if s[0] == op]:
                    del self._latest[stream]
        return False

    def take(self) -> str:
        frame = self._frames.popleft()
        self.bytes -= len(frame.text)
        if frame.op is not None and self._latest.get(frame.stream) is frame:
            del self._latest[frame.stream]
        return frame.text

    def clear(self) -> None:
        self._frames.clear()
        self._latest.clear()
        self.bytes = 0
