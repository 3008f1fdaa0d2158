"""The bounded caches the fan-out path shares work through."""

from __future__ import annotations

from actors.memo import ByIdentity, Recent


def test_recent_keeps_the_last_values_and_makes_each_once() -> None:
    recent: Recent[str, int] = Recent(2)
    made: list[str] = []

    def make(key: str) -> int:
        made.append(key)
        return len(made)

    assert [recent.get_or_make(key, lambda k=key: make(k)) for key in "aab"] == [1, 1, 2]
    recent.put("c", 3)  # "a" is the oldest: dropped
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (None, 2, 3)
    assert made == ["a", "b"]


def test_by_identity_makes_once_per_object_not_per_equal_value() -> None:
    memo: ByIdentity[list[int], int] = ByIdentity(8)
    one, equal = [1, 2], [1, 2]

    first = memo(one, lambda value: sum(value) * 10)
    again = memo(one, lambda value: -1)
    other = memo(equal, lambda value: -1)

    assert (first, again, other) == (30, 30, -1)
