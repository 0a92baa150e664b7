"""The hub's background work: the deadline timers, the supervision scan (warnings and
cards, :mod:`shared.deciding.signal_scan`) and the reports of periods that ended
(:mod:`shared.deciding.report_files`) and the texts to citizens (:mod:`hub.notifications`),
every minute, in every hub process; the
archiving of closed cases (:mod:`hub.privacy.archive`) and the erasure of expired ones
(:mod:`hub.privacy.erasure`) with the online hall's abandoned drafts and unused accounts
(:mod:`hub.online_hall_retention`), every few hours.

Several processes may run it against one PostgreSQL database; the work is claimed row by
row with ``FOR UPDATE SKIP LOCKED`` (:mod:`shared.deciding.deadline_timers`), so it is never done
twice. Archiving takes each case in a transaction of its own and skips a case another
process archived first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from hub import db_session
from hub.ingest import HUB_TIER
from hub.models import HubCase
from hub.notifications import SmsRun, run_sms
from hub.online_hall_retention import OnlineRetention
from hub.services import HubServices, services_of
from shared.deciding.deadline_timers import TimerRun, run_due_timers
from shared.deciding.report_files import write_closed_reports
from shared.deciding.signal_scan import ScanRun, run_signal_scan
from shared.pdf.fonts import find_fonts
from sync_protocol.times import to_ms

LOG = logging.getLogger("sanji.hub.background")
TIMER_SECONDS = 60.0
ARCHIVE_SECONDS = 6 * 3600.0


def run_timers(app: Flask) -> TimerRun:
    """One run of the deadline timers."""
    hub: HubServices = services_of(app)
    return run_due_timers(db_session.session_factory(app), hub.sync_site,
                          hub.catalogue, hub.calendar, HUB_TIER, HubCase, hub.clock(),
                          versions=hub.catalogue_versions)


def run_scan(app: Flask) -> ScanRun:
    """One run of the supervision scan."""
    hub: HubServices = services_of(app)
    return run_signal_scan(db_session.session_factory(app), hub.sync_site, HubCase,
                           hub.clock(), warning_share=hub.settings.warning_share)


def run_reports(app: Flask) -> int:
    """Write the reports of the periods that ended (``reports/`` in the data directory)."""
    hub: HubServices = services_of(app)
    return len(write_closed_reports(db_session.session_factory(app), HubCase, hub.catalogue,
                                    hub.settings.site_code, hub.settings.site_name,
                                    hub.settings.data_dir, hub.clock(), find_fonts))


def run_texts(app: Flask) -> SmsRun:
    """One run of the texts to citizens: queue the new ones, send those due."""
    hub: HubServices = services_of(app)
    return run_sms(db_session.session_factory(app), hub.sms, hub.clock())


def run_archiving(app: Flask) -> int:
    """One run of the archiving: closed cases older than the policy's period."""
    from hub.privacy.archive import archive_closed
    from hub.privacy.retention_policy import load_policy

    hub: HubServices = services_of(app)
    now = hub.clock()
    before = now - timedelta(days=load_policy(hub.settings.data_dir).archive_after_days)
    return archive_closed(db_session.session_factory(app), hub.settings.data_dir, hub.key,
                          hub.data_keys, hub.payload_sealer, before, now)


def run_erasure(app: Flask) -> int:
    """One run of the erasure: closed cases whose retention period is over, and access
    requests and record views logged longer ago than the audit logs are kept."""
    from hub.hall_queue import forget_past_bookings
    from hub.privacy.access_request import purge_access_log
    from hub.privacy.erasure import erase_expired
    from hub.privacy.retention_policy import load_policy
    from shared.storage.record_views import purge_views

    hub: HubServices = services_of(app)
    policy = load_policy(hub.settings.data_dir)
    factory = db_session.session_factory(app)
    done = erase_expired(factory, hub.sync_site, hub.data_keys, hub.blobs,
                         hub.settings.data_dir, policy, hub.clock())
    with factory() as session:  # the logs of access requests and of views: audit_log_days
        purge_access_log(session, policy, hub.clock())
        purge_views(session, to_ms(hub.clock() - timedelta(days=policy.audit_log_days)))
        forget_past_bookings(session, hub.clock())  # the hall's bookings: names and phones
        session.commit()
    return len(done)


def run_online_retention(app: Flask) -> OnlineRetention:
    """One run of the online hall's retention: drafts left untouched, accounts unused."""
    from hub.online_hall_retention import expire_online
    from hub.privacy.retention_policy import load_policy

    hub: HubServices = services_of(app)
    return expire_online(db_session.session_factory(app),
                         load_policy(hub.settings.data_dir), hub.clock())


def _online_retention(app: Flask) -> int:
    done = run_online_retention(app)
    if done.drafts or done.accounts or done.codes:
        LOG.info("online hall records removed", extra={"fields": done.as_fields()})
    return done.drafts + done.accounts


def _logged(done: str, field: str, run: Callable[[], int], *, failure: str = "") -> bool:
    """Run one scheduled job: its count logged when it did something, its failure logged
    (never raised: the scheduler keeps the next runs). True when it ran."""
    try:
        count = run()
    except Exception:
        LOG.exception(failure or f"{done} failed")
        return False
    if count:
        LOG.info(done, extra={"fields": {field: count}})
    return True


def start_background(app: Flask, seconds: float = TIMER_SECONDS) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)

    def tick() -> None:
        _logged("deadline timers", "applied", lambda: run_timers(app).applied)
        _logged("supervision scan", "raised", lambda: run_scan(app).raised)
        _logged("reports written", "reports", lambda: run_reports(app))
        _logged("texts sent", "sent", lambda: run_texts(app).sent)

    def archive() -> None:
        # erasure waits for the next run when archiving failed
        if _logged("closed cases archived", "archived", lambda: run_archiving(app),
                   failure="archiving failed"):
            _logged("expired cases erased", "erased", lambda: run_erasure(app),
                    failure="erasure failed")
        _logged("online drafts and accounts removed", "removed",
                lambda: _online_retention(app), failure="online hall retention failed")

    scheduler.add_job(tick, "interval", seconds=seconds, id="deadline-timers",
                      max_instances=1, coalesce=True)
    scheduler.add_job(archive, "interval", seconds=ARCHIVE_SECONDS, id="archiving",
                      max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
