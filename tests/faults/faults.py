"""What can go wrong, and where: the crash points inside the glue, the link faults, and the
counter of how often each was actually reached (a fault armed but never hit proves nothing).

A crash is an exception the harness raises from inside a real site's SQLAlchemy session or
from its blob store's disk write; it stands for the process dying there. What the site had
committed stays, what it had not is rolled back, exactly as with a killed process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PARENT_BEFORE_COMMIT = "parent.before_commit"
PARENT_AFTER_COMMIT = "parent.after_commit"
PARENT_STORED_NOT_ACKED = "parent.stored_not_acked"
PARENT_MID_SCAN = "parent.mid_scan_chunk"
CHILD_BEFORE_COMMIT = "child.before_commit"
CHILD_AFTER_COMMIT = "child.after_commit"
CHILD_STORED_NOT_ACKED = "child.stored_not_acked"

CRASH_POINTS = (PARENT_BEFORE_COMMIT, PARENT_AFTER_COMMIT, PARENT_STORED_NOT_ACKED,
                PARENT_MID_SCAN, CHILD_BEFORE_COMMIT, CHILD_AFTER_COMMIT,
                CHILD_STORED_NOT_ACKED)

NONE = "none"
DROP_REQUEST = "drop_request"
DROP_ANSWER = "drop_answer"
DUPLICATE_REQUEST = "duplicate_request"
STALE_ANSWER = "stale_answer"
HOLD = "hold_and_reorder"
TRUNCATE_REQUEST = "truncate_request"
TRUNCATE_ANSWER = "truncate_answer"
DELAY = "delay_past_window"

LINK_FAULTS = (DROP_REQUEST, DROP_ANSWER, DUPLICATE_REQUEST, STALE_ANSWER, HOLD,
               TRUNCATE_REQUEST, TRUNCATE_ANSWER, DELAY)

SKEW_REFUSED = "clock_skew_refused"
SKEW_CORRECTED = "clock_skew_corrected"
FORGED_REFUSED = "forged_run_refused"
REVOKED_REFUSED = "revoked_run_refused"
REVOKED = "key_revoked_mid_run"
PUBLISHED = "release_published_mid_run"
RESTORED = "parent_restored_earlier"

EVENTS = (SKEW_REFUSED, SKEW_CORRECTED, FORGED_REFUSED, REVOKED_REFUSED, REVOKED, PUBLISHED,
          RESTORED)


class Crash(Exception):
    """The site's process died here."""


@dataclass
class CrashPlan:
    """One armed crash: at ``point`` in the next transaction of that kind at one site."""

    point: str | None = None
    fired: bool = False

    def arm(self, point: str | None) -> None:
        self.point, self.fired = point, False

    def hit(self, point: str, reached: Counter[str]) -> None:
        """Raise :class:`Crash` if ``point`` is armed (once)."""
        if self.point == point and not self.fired:
            self.fired = True
            reached[point] += 1
            raise Crash(point)


@dataclass
class Reached:
    """How often each fault kind, crash point and protocol event was actually reached."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, other: Reached) -> None:
        self.counts.update(other.counts)

    def missing(self, minimum: int) -> dict[str, int]:
        """The kinds reached fewer than ``minimum`` times."""
        return {k: self.counts[k] for k in (*CRASH_POINTS, *LINK_FAULTS, *EVENTS)
                if self.counts[k] < minimum}
