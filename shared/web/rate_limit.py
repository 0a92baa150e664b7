"""Counting wrong guesses per address, so a query code cannot be found by trying.

Only failures count: a citizen who looks up a case many times is never blocked. After
``max_failures`` wrong pairs within ``window_seconds`` an address gets 429 until the oldest
failure leaves the window. Memory is bounded: at most ``max_addresses`` are tracked and the
stalest is forgotten first. Time comes in as an argument (a monotonic clock in the app).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque


class FailureLimiter:
    """Failures per key inside a sliding window."""

    def __init__(self, max_failures: int, window_seconds: float, max_addresses: int = 10_000):
        self.max_failures = max_failures
        self.window = window_seconds
        self.max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, key: str, now: float) -> bool:
        """Whether ``key`` has used up its failures within the window."""
        with self._lock:
            return len(self._recent(key, now)) >= self.max_failures

    def record_failure(self, key: str, now: float) -> None:
        """Count one wrong guess from ``key``."""
        with self._lock:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until ``key`` may try again (at least 1)."""
        with self._lock:
            times = self._recent(key, now)
            return max(1, int(times[0] + self.window - now) + 1) if times else 1
