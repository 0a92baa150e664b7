"""The sync job's schedule: backoff with jitter while the parent is away, nudges otherwise."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

from node.sync_job import Backoff, SyncJob
from node.sync_result import RetryLater, RunResult


def test_backoff_grows_to_its_cap_and_jitters_within_the_upper_half() -> None:
    backoff = Backoff(base_seconds=5, cap_seconds=900, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        step = min(900, 5 * 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert max(delays) <= 900
    assert delays[-1] >= 450


def test_two_sites_failing_together_retry_at_different_times() -> None:
    first = Backoff(rng=random.Random(1)).delay(6)
    second = Backoff(rng=random.Random(2)).delay(6)
    assert first != second


def wait_until(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_runs_soon_after_start_and_after_a_nudge() -> None:
    ran = threading.Event()
    calls: list[float] = []

    def run() -> bool:
        calls.append(time.monotonic())
        ran.set()
        return True

    job = SyncJob(run, interval_seconds=3600, nudge_seconds=0.05)
    job.start()
    try:
        assert ran.wait(5)
        ran.clear()
        job.nudge()
        assert ran.wait(5)
        assert job.failures == 0
        assert len(calls) == 2
    finally:
        job.stop()


def test_failures_back_off_and_a_nudge_does_not_hammer_a_dead_link() -> None:
    outcomes = iter([False, False, True])
    attempts: list[bool] = []

    def run() -> bool:
        ok = next(outcomes, True)
        attempts.append(ok)
        if not ok:
            raise ConnectionError("parent unreachable")
        return ok

    job = SyncJob(
        run,
        interval_seconds=3600,
        nudge_seconds=0.05,
        backoff=Backoff(base_seconds=1.0, cap_seconds=1.0, rng=random.Random(3)),
    )
    job.start()
    try:
        # after the first failure the next try is the backoff's, not the hourly interval's
        assert wait_until(lambda: job.failures == 1 and job.next_run is not None
                          and job.next_run < datetime.now(UTC) + timedelta(minutes=1))
        backing_off = job.next_run
        job.nudge()  # ignored while backing off: the next try stays at the backoff time
        assert job.next_run == backing_off
        assert wait_until(lambda: len(attempts) == 3)
        assert attempts == [False, False, True]
        assert job.failures == 0
    finally:
        job.stop()


def test_a_parents_retry_after_is_waited_even_when_the_backoff_is_shorter() -> None:
    """A hub answering 503 with ``Retry-After: 120`` (its database is out of reach) is
    not asked again after the 1 s backoff: the next try waits the two minutes."""
    attempts: list[float] = []

    def run() -> RunResult:
        attempts.append(time.monotonic())
        return RetryLater(120.0)

    job = SyncJob(run, interval_seconds=3600, nudge_seconds=0.05,
                  backoff=Backoff(base_seconds=1.0, cap_seconds=1.0, rng=random.Random(3)))
    job.start()
    try:
        assert wait_until(lambda: job.failures == 1)
        assert wait_until(lambda: job.next_run is not None
                          and job.next_run > datetime.now(UTC) + timedelta(seconds=100))
        assert job.next_run is not None
        assert job.next_run < datetime.now(UTC) + timedelta(seconds=121)
        assert len(attempts) == 1
    finally:
        job.stop()


def test_nudges_in_a_burst_keep_the_run_already_due() -> None:
    """An agent registering a case every second must not put the run off each time: a run
    already due sooner than a nudge would set stays where it is."""
    job = SyncJob(lambda: True, interval_seconds=3600, nudge_seconds=30)
    job.start()
    try:
        first = job.next_run  # the first run, soon after start
        assert first is not None
        job.nudge()
        job.nudge()
        assert job.next_run == first
    finally:
        job.stop()
