"""operationsUpdates' pace (graph.opsupdates.throttled) on a controlled clock: at most one
update per look however fast the view changes, and a heartbeat when it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing

from graph.opsupdates import EVERY, HEARTBEAT, throttled


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.looks = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def ticks_until(clock: Clock, view: Callable[[Clock], object], end: float) -> list[float]:
    """When (by `clock`) each update of `view` went out, until `end`."""

    async def look() -> object:
        clock.looks += 1
        return view(clock)

    async def run() -> list[float]:
        sent: list[float] = []
        async with aclosing(throttled(look, sleep=clock.sleep, clock=clock)) as ticks:
            async for _ in ticks:
                sent.append(clock.now)
                if clock.now >= end:
                    return sent
        raise AssertionError("throttled ended")

    return asyncio.run(run())


def test_a_view_changing_all_the_time_is_sent_once_per_look_and_no_more() -> None:
    clock = Clock()
    # A different view at every look: as if progress moved a hundred times a second.
    sent = ticks_until(clock, lambda c: c.looks, end=10 * EVERY)

    assert sent == [i * EVERY for i in range(11)]
    assert clock.looks == 11


def test_a_quiet_view_is_sent_at_once_then_only_as_a_heartbeat() -> None:
    clock = Clock()
    sent = ticks_until(clock, lambda _: "nothing moves", end=3 * HEARTBEAT)

    assert sent == [0.0, HEARTBEAT, 2 * HEARTBEAT, 3 * HEARTBEAT]


def test_one_change_is_sent_at_the_next_look_and_the_heartbeat_counts_from_it() -> None:
    clock = Clock()
    changed_at = 2.5 * EVERY
    sent = ticks_until(clock, lambda c: c.now >= changed_at, end=3 * EVERY + HEARTBEAT)

    assert sent == [0.0, 3 * EVERY, 3 * EVERY + HEARTBEAT]
