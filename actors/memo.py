"""Small bounded caches, for what a process works out once and many callers reuse
(a web node's subscribers of one task all receive each of its events)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The last `size` values put, by key; the oldest goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V) -> V:
        self._values[key] = value
        if len(self._values) > self._size:
            self._values.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        found = self._values.get(key)
        return found if found is not None else self.put(key, make())


class ByIdentity(Generic[T, V]):
    """`make(obj)` once per object, for objects handed as they are to many callers.
    Looked up by identity; each kept object is held, so its id is never reused."""

    def __init__(self, size: int) -> None:
        self._recent: Recent[int, tuple[T, V]] = Recent(size)

    def __call__(self, obj: T, make: Callable[[T], V]) -> V:
        entry = self._recent.get(id(obj))
        if entry is None or entry[0] is not obj:
            entry = self._recent.put(id(obj), (obj, make(obj)))
        return entry[1]
