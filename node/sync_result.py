"""What one sync run tells the job that schedules the next (kept apart from
:mod:`node.sync_job`, so ``sanji node sync-now`` does not load the scheduler)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A failed run whose parent said when to come back (``Retry-After``): the next try
    waits at least ``seconds``, and longer if the backoff says so."""

    seconds: float


RunResult = bool | RetryLater
"""True when the parent answered; False or :class:`RetryLater` when it did not."""
