"""The node's background sync: an APScheduler job that runs the exchange with the parent.

It runs soon after each new case (:meth:`SyncJob.nudge`) and otherwise every ``interval``
seconds. While the parent is unreachable the next try waits longer each time (exponential
backoff with jitter, capped), so a hundred villages coming back after an outage do not all
knock at the same second, and a village PC on a dead link does not spin. One run at a time:
a nudge during a run only brings the next run forward.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from node.sync_result import RetryLater, RunResult

LOG = logging.getLogger("sanji.node.sync")
JOB_ID = "sync"


@dataclass
class Backoff:
    """Delays after consecutive failures: ``base * 2**(n-1)`` capped, half of it jittered.

    "Equal jitter": the delay is at least half the exponential step, so it keeps growing,
    and the other half is random, so sites that failed together retry apart.
    """

    base_seconds: float = 5.0
    cap_seconds: float = 900.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (``failures >= 1``)."""
        if failures < 1:
            return 0.0
        step = min(self.cap_seconds, self.base_seconds * float(2 ** min(failures - 1, 30)))
        return step / 2 + self.rng.uniform(0, step / 2)


class SyncJob:
    """Runs ``run`` (one full exchange; True when the parent answered) on a schedule."""

    def __init__(
        self,
        run: Callable[[], RunResult],
        *,
        interval_seconds: float = 60.0,
        nudge_seconds: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._run = run
        self.interval_seconds = interval_seconds
        self.nudge_seconds = nudge_seconds
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self.failures = 0
        self.runs = 0
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        """Start the scheduler; the first exchange runs after ``nudge_seconds``."""
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.interval_seconds,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=self._at(self.nudge_seconds),
        )
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler, waiting for a running exchange to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def nudge(self) -> None:
        """Something new waits to go up: run soon, unless we are backing off a dead link; a
        run already due sooner stays where it is (cases coming in less than ``nudge_seconds``
        apart must not put the run off again and again)."""
        with self._lock:
            if self.failures or not self._scheduler.running:
                return
            due = self.next_run
            if due is not None and due <= self._at(self.nudge_seconds):
                return
            self._reschedule(self.nudge_seconds)

    @property
    def next_run(self) -> datetime | None:
        job = self._scheduler.get_job(JOB_ID)
        return None if job is None else job.next_run_time

    def _at(self, seconds: float) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=seconds)

    def _reschedule(self, seconds: float) -> None:
        job = self._scheduler.get_job(JOB_ID)
        if job is not None:
            job.modify(next_run_time=self._at(seconds))

    def _tick(self) -> None:
        result: RunResult
        try:
            result = self._run()
        except Exception:
            LOG.exception("sync run failed")
            result = False
        with self._lock:
            self.runs += 1
            if result is True:
                self.failures = 0
                return
            self.failures += 1
            delay = self.backoff.delay(self.failures)
            if isinstance(result, RetryLater):
                delay = max(delay, result.seconds)
            LOG.info("parent unreachable; retry in %.0f s", delay)
            self._reschedule(delay)
