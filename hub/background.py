"""The hub's background work: the deadline timers, every minute, in every hub process.

Several processes may run it against one PostgreSQL database; the work is claimed row by
row with ``FOR UPDATE SKIP LOCKED`` (:mod:`shared.deciding.deadline_timers`), so it is never done
twice."""

from __future__ import annotations

import logging
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from hub import db_session
from hub.ingest import HUB_TIER
from hub.models import HubCase
from hub.services import HubServices, services_of
from shared.deciding.deadline_timers import TimerRun, run_due_timers

LOG = logging.getLogger("sanji.hub.background")
TIMER_SECONDS = 60.0


def run_timers(app: Flask) -> TimerRun:
    """One run of the deadline timers."""
    hub: HubServices = services_of(app)
    return run_due_timers(db_session.session_factory(app), hub.sync_site,
                          hub.catalogue, hub.calendar, HUB_TIER, HubCase, hub.clock())


def start_background(app: Flask, seconds: float = TIMER_SECONDS) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)

    def tick() -> None:
        try:
            done = run_timers(app)
        except Exception:
            LOG.exception("deadline timers failed")
            return
        if done.applied:
            LOG.info("deadline timers", extra={"fields": {"applied": done.applied}})

    scheduler.add_job(tick, "interval", seconds=seconds, id="deadline-timers",
                      max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
