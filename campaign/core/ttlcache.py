"""A small per-process cache whose entries live a few seconds.

Used for what every visitor asks for and may be a little stale: public counts, the hot
petition page, a petition's open/closed state. Each worker process has its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def set(self, key: Hashable, value: V, ttl: float) -> V:
        if ttl > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # the oldest entry
            self._entries[key] = (time.monotonic() + ttl, value)
        return value

    def get_or_compute(self, key: Hashable, ttl: float, compute: Callable[[], V]) -> V:
        """The cached value, or compute() kept for ttl seconds (0: not kept)."""
        hit = self.get(key) if ttl > 0 else None
        return hit if hit is not None else self.set(key, compute(), ttl)

    def forget(self, key: Hashable | None = None) -> None:
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
