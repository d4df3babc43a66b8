"""A short per-process memory of lookups a hot path must not repeat on every request (API
keys, a team's prices): each entry is trusted for `seconds`, the memory holds at most
`most` entries (past that it starts over: a flood of distinct keys must not fill memory),
and its owner forgets entries at once when what they were read from changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Remembered(Generic[V]):
    def __init__(self, seconds: float, *, most: int = 10_000):
        self.seconds = seconds
        self.most = most
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value remembered under `key`, or None (never put, or older than `seconds`)."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, key: Hashable, value: V) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.most:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.seconds, value)

    def forget(self, matches: Callable[[V], bool]) -> None:
        """Drop every entry whose value `matches`."""
        with self._lock:
            for key, (_, value) in list(self._entries.items()):
                if matches(value):
                    del self._entries[key]

    def forget_key(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
