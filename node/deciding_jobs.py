"""The scheduled work of a township or county node that decides cases, as the hub does its
own (:mod:`hub.background`): every minute the deadline timers (缺席默许, 超时许可), the
supervision scan (warnings and cards) and the reports of the periods that ended. A node is
one process over one SQLite file, so the runs need no claiming beyond SQLite's one writer;
the same code claims rows with ``SKIP LOCKED`` where the database has it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from node import db_session
from node.models import NodeWindowCase
from node.services import services_of
from shared.deciding.deadline_timers import TimerRun, run_due_timers
from shared.deciding.report_files import write_closed_reports
from shared.deciding.signal_scan import ScanRun, run_signal_scan
from shared.domain.case_events import DECIDING_TIERS
from shared.pdf.fonts import find_fonts
from shared.storage.sealing import DataLocked

LOG = logging.getLogger("sanji.node.deciding")
JOB_ID = "deciding"


def run_timers(app: Flask) -> TimerRun:
    node = services_of(app)
    return run_due_timers(db_session.session_factory(app), node.sync_site, node.catalogue,
                          node.held_calendar.current(), str(node.settings.tier.value),
                          NodeWindowCase, node.clock(), versions=node.held_catalogue)


def run_scan(app: Flask) -> ScanRun:
    node = services_of(app)
    return run_signal_scan(db_session.session_factory(app), node.sync_site, NodeWindowCase,
                           node.clock(), warning_share=node.settings.warning_share)


def run_reports(app: Flask) -> int:
    node = services_of(app)
    return len(write_closed_reports(db_session.session_factory(app), NodeWindowCase, node.catalogue,
                                    node.settings.site_code, node.settings.site_name,
                                    node.settings.data_dir, node.clock(), find_fonts))


def decides(app: Flask) -> bool:
    """True for a node of a deciding tier that is part of the tree."""
    node = services_of(app)
    return str(node.settings.tier.value) in DECIDING_TIERS and node.sync_site.parent is not None


RUNS = "sanji_deciding_runs"
"""``app.extensions`` key: the runs finished since the process started (``/metrics``)."""


def runs_done(app: Flask) -> int:
    """How many runs of the jobs finished since the process started."""
    return int(app.extensions.get(RUNS, 0))


def tick(app: Flask) -> None:
    """One run of both; a failure is logged and the next run comes anyway."""
    try:
        _run_all(app)
    finally:  # counted whatever happened: the metric says the job is alive
        app.extensions[RUNS] = runs_done(app) + 1


def _run_all(app: Flask) -> None:
    runs: tuple[tuple[str, Callable[[], int]], ...] = (
        ("deadline timers", lambda: run_timers(app).applied),
        ("supervision scan", lambda: run_scan(app).raised),
        ("reports written", lambda: run_reports(app)))
    for name, run in runs:
        try:
            done = run()
        except DataLocked:
            return  # nothing opens until an agent signs in
        except Exception:
            LOG.exception(f"{name} failed")
            continue
        if done:
            LOG.info(name, extra={"fields": {"done": done}})


def start_deciding_jobs(app: Flask, seconds: float = 60.0) -> BackgroundScheduler | None:
    """Start the runs at a deciding node; None (nothing started) elsewhere."""
    if not decides(app):
        return None
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(tick, "interval", seconds=seconds, args=(app,), id=JOB_ID,
                      max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
