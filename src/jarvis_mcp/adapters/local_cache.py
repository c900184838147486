"""In-process Cache and Limiter: the default without Redis. Thread-safe, bounded in memory.

Per process only: several server processes behind a load balancer each count and cache on their own,
so a deployment with more than one process sets JARVIS_REDIS_URL.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from jarvis_mcp.account.ports import Decision, Limit
from jarvis_mcp.adapters.windows import window


class LocalCache:
    def __init__(self, max_bytes: int = 256 << 20, max_counters: int = 100_000) -> None:
        self.max_bytes = max_bytes
        self.max_counters = max_counters
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()  # LRU order
        self._bytes = 0
        self._counters: OrderedDict[tuple[str, str], int] = OrderedDict()

    def get(self, user_id: str, key: str) -> bytes | None:
        k = (user_id, key)
        with self._lock:
            entry = self._entries.get(k)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                self._drop(k)
                return None
            self._entries.move_to_end(k)
            return entry[1]

    def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None:
        size = len(value) + len(key) + len(user_id)
        if ttl <= 0 or size > self.max_bytes // 8:  # one huge value must not flush everyone else's
            return
        k = (user_id, key)
        with self._lock:
            if k in self._entries:
                self._drop(k)
            self._entries[k] = (time.monotonic() + ttl, value)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def incr(self, user_id: str, counter: str, amount: int = 1) -> int:
        k = (user_id, counter)
        with self._lock:
            value = self._counters.pop(k, 0) + amount
            self._counters[k] = value
            if len(self._counters) > self.max_counters:
                self._counters.popitem(last=False)
            return value

    def _drop(self, k: tuple[str, str]) -> None:
        _, value = self._entries.pop(k)
        self._bytes -= len(value) + len(k[0]) + len(k[1])


class LocalLimiter:
    def __init__(self, max_windows: int = 200_000, *, clock=time.time) -> None:  # noqa: ANN001 - a callable
        self.max_windows = max_windows
        self._clock = clock
        self._lock = threading.Lock()
        # (user, name, period, window id) -> [units used, window end]
        self._counts: OrderedDict[tuple[str, str, str, str], list[float]] = OrderedDict()
        self._next_purge = 0.0

    def hit(self, user_id: str, limit_name: str, cost: int, limits: Sequence[Limit]) -> Decision:
        if cost < 0:
            raise ValueError("cost must not be negative")
        now = self._clock()
        slots = []
        for limit in limits:
            wid, end = window(limit.period, now)
            slots.append(((user_id, limit_name, limit.period, wid), end, limit))
        with self._lock:
            self._purge(now)
            used = [int(self._counts[k][0]) if k in self._counts else 0 for k, _, _ in slots]
            for (_, end, limit), u in zip(slots, used, strict=True):
                if u + cost > limit.max:
                    return Decision(False, limit, u, max(0, limit.max - u), end)
            if cost:
                for i, (k, end, _) in enumerate(slots):
                    entry = self._counts.setdefault(k, [0, end])
                    entry[0] += cost
                    used[i] = int(entry[0])
                while len(self._counts) > self.max_windows:
                    self._counts.popitem(last=False)
        return tightest(slots, used)

    def _purge(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + 30
        for k in [k for k, (_, end) in self._counts.items() if end <= now]:
            del self._counts[k]


def tightest(slots: Sequence[tuple[object, float, Limit]], used: Sequence[int]) -> Decision:
    """The allowed decision: the limit with the least room left (no limits: unlimited)."""
    best: Decision | None = None
    for (_, end, limit), u in zip(slots, used, strict=True):
        d = Decision(True, limit, u, max(0, limit.max - u), end)
        if best is None or d.remaining < best.remaining:
            best = d
    return best or Decision(True, None, 0, 0, 0.0)
