"""A per-key LRU of derived state (a user's vector matrix, a user's contact index) under a size budget.

Each entry carries the version of the durable data it was built from. A reader passes the version it
reads from the store, so a write made by another process (which moved the version) is never served from
here; an own write either advances a current entry in place or drops a stale one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    version: int


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Versioned)


class VersionedLru(Generic[K, V]):
    """Entries evicted least recently used first once their total `size` passes `budget`. An entry larger
    than the budget is still kept (alone): serving one big user beats rebuilding on every call.

    `lock` is reentrant and public: adapters hold it across a check-then-build so two threads do not both
    rebuild the same entry."""

    def __init__(self, budget: int, size: Callable[[V], int]) -> None:
        self.budget = budget
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.RLock()

    def __len__(self) -> int:
        with self.lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self.lock:
            return key in self._entries

    def get(self, key: K, version: int) -> V | None:
        with self.lock:
            value = self._entries.get(key)
            if value is None or value.version != version:
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self.lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            # Summed afresh: entries grow in place after advance(), so a running total would drift.
            total = sum(self._size(v) for v in self._entries.values())
            while total > self.budget and len(self._entries) > 1:
                _, evicted = self._entries.popitem(last=False)
                total -= self._size(evicted)

    def advance(self, key: K, old_version: int, new_version: int) -> V | None:
        """The entry to apply an own write to, if it was current before the write; else drop it."""
        with self.lock:
            value = self._entries.get(key)
            if value is None:
                return None
            if value.version != old_version:
                del self._entries[key]
                return None
            value.version = new_version
            return value

    def drop(self, key: K) -> None:
        with self.lock:
            self._entries.pop(key, None)
