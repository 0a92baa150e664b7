"""The parent's clock as the child learns it, the request time window, and nonces.

A child never trusts its own PC clock: every response carries the parent's
clock, and the child keeps ``offset = parent_clock - midpoint(sent, received)``.
The parent refuses a request whose time is outside its window; the refusal
carries its clock too, so the next try of a child with a wrong clock succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync_protocol.errors import ClockSkew, Replay
from sync_protocol.times import to_ms

WINDOW_MS = 300_000
NONCE_CAPACITY = 64


def corrected(now: datetime, offset_ms: int) -> datetime:
    """The parent-aligned time of a local ``now``."""
    return now + timedelta(milliseconds=offset_ms)


def learn_offset(sent_local: datetime, received_local: datetime, parent_clock_ms: int) -> int:
    """Offset (ms) that maps the child's clock to the parent's, from one round trip."""
    midpoint = (to_ms(sent_local) + to_ms(received_local)) // 2
    return parent_clock_ms - midpoint


def check_window(sent_ms: int, now_ms: int, window_ms: int = WINDOW_MS) -> None:
    if abs(sent_ms - now_ms) > window_ms:
        raise ClockSkew("request.sent_at",
                        f"{(sent_ms - now_ms) / 1000:+.0f} s from the parent's clock")


@dataclass(frozen=True, slots=True)
class NonceCache:
    """Nonces seen from one child within the window, bounded.

    When full, the oldest entry is dropped and its time becomes ``floor_ms``;
    anything at or before the floor is refused, so dropping never opens a replay.
    """

    entries: tuple[tuple[bytes, int], ...] = ()
    floor_ms: int = 0

    def admit(self, nonce: bytes, sent_ms: int, now_ms: int, *,
              window_ms: int = WINDOW_MS, capacity: int = NONCE_CAPACITY) -> NonceCache:
        if sent_ms <= self.floor_ms:
            raise Replay("request.sent_at", "older than requests already forgotten")
        if any(n == nonce for n, _ in self.entries):
            raise Replay("request.nonce", "seen before")
        horizon = now_ms - window_ms
        floor = max(self.floor_ms, horizon)
        kept = sorted(((n, t) for n, t in self.entries if t > horizon), key=lambda e: e[1])
        kept.append((nonce, sent_ms))
        kept.sort(key=lambda e: e[1])
        while len(kept) > capacity:
            _, t = kept.pop(0)
            floor = max(floor, t)
        return NonceCache(tuple(kept), floor)
