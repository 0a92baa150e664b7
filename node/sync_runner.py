"""Running the exchange with the parent from a node process: ``sanji node sync-now`` and the
scheduled job (:mod:`node.sync_job`) both call :func:`sync_app`.

While the data key is locked (a village restarted, no agent signed in since) nothing can be
sealed or opened, so no exchange runs: the status records why (the sync page and
``GET /api/v1/sync/status`` show it as ``last_error``) and the job waits, without backing
off, until the unlock nudges it."""

from __future__ import annotations

import json
import logging

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.data_key import LOCKED_MESSAGE
from node.db_session import app_session
from node.sync_result import RetryLater, RunResult
from shared.exchange.child import SyncOutcome, sync_until_quiet
from shared.exchange.status import STATUS_KEY, read_status
from shared.exchange.transport import frame_session, http_transport
from shared.storage import sync_store

LOG = logging.getLogger("sanji.node.sync")
_TRANSPORT_TIMEOUT = 180.0  # a parent applying a large batch on a busy machine
AFTER_SYNC = "sanji_node_after_sync"
"""``app.extensions`` key: what runs after each run, given the app and whether the run
reached the parent (:func:`node.hall_station.refresh_copy`)."""
MAX_ROUNDS = 400
"""Exchanges in one run while each still moves something: scans go about 32 KB per
exchange at 64 kbit/s (4 s of the line each), so 20 photos of 200 KB take some 130; a
run stops at the first exchange that moves nothing or fails."""


def sync_app(app: Flask, max_rounds: int = MAX_ROUNDS) -> list[SyncOutcome]:
    """Exchange with the parent until nothing is left to move (bounded) or it fails."""
    node = app.extensions["sanji_node"]
    site = node.sync_site
    if site.parent is None or site.parent_url is None:
        return [SyncOutcome(ok=False, error="not enrolled: no parent to sync with")]
    if node.data_key.locked:
        with app_session(app) as session:
            _record_locked(session)
        LOG.info("sync skipped: the data key is locked")
        return [SyncOutcome(ok=False, error=LOCKED_MESSAGE)]
    # one kept-alive connection for every exchange of this run; closed at its end, so an
    # idle connection is never reused minutes later after the parent dropped it
    verify = node.settings.parent_tls_verify
    with app_session(app) as session, frame_session(verify) as http:
        outcomes = sync_until_quiet(session, site, http_transport(_TRANSPORT_TIMEOUT, http),
                                    node.clock, max_rounds=max_rounds)
    for outcome in outcomes:
        LOG.info("sync", extra={"fields": {"ok": outcome.ok, "sent": outcome.sent,
                                           "received": outcome.received,
                                           "bytes_up": outcome.bytes_up,
                                           "bytes_down": outcome.bytes_down,
                                           "error": outcome.error}})
    for after in app.extensions.get(AFTER_SYNC, ()):
        after(app, reached=bool(outcomes) and outcomes[-1].ok)
    return outcomes


def _record_locked(session: Session, locked: bool = True) -> None:
    """Say in the status why nothing moves, or take that back once unlocked (the rest of
    the status stays as it was)."""
    status = read_status(session)
    now_error = LOCKED_MESSAGE if locked else None
    if (status.get("last_error") == LOCKED_MESSAGE) != locked:
        status["last_error"] = now_error
        sync_store.write_state(session, STATUS_KEY, json.dumps(status).encode())
        session.commit()


def show_lock(app: Flask, locked: bool) -> None:
    """Record in the sync status that the data key is locked (at start-up) or no longer
    (at the unlock); a node without a schema yet has no status to keep."""
    try:
        with app_session(app) as session:
            _record_locked(session, locked)
    except SQLAlchemyError:
        LOG.warning("sync status not updated", extra={"fields": {"locked": locked}})


def job_run(app: Flask) -> RunResult:
    """One scheduled run: True when the parent answered (the backoff resets) or when the
    data key is locked (nothing to retry: the unlock nudges the job); when the parent asked
    to be left alone for a while (``Retry-After``), how long."""
    if app.extensions["sanji_node"].data_key.locked:
        sync_app(app)  # records the lock in the status
        return True
    purge_old_views(app)
    outcomes = sync_app(app)
    if outcomes and outcomes[-1].ok:
        return True
    if outcomes and outcomes[-1].retry_after is not None:
        return RetryLater(outcomes[-1].retry_after)
    return False


def purge_old_views(app: Flask) -> int:
    """Delete the log of record views older than the audit logs are kept (the hub's default
    period: a node holds no retention policy of its own); how many."""
    from datetime import timedelta

    from shared.domain.retention import RetentionPolicy
    from shared.storage.record_views import purge_views
    from shared.web.request_db import app_session
    from sync_protocol.times import to_ms

    node = app.extensions["sanji_node"]
    cutoff = node.clock() - timedelta(days=RetentionPolicy().audit_log_days)
    with app_session(app) as session:
        done = purge_views(session, to_ms(cutoff))
        session.commit()
    return done
