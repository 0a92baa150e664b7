"""Running the exchange with the parent from a node process: ``sanji node sync-now`` and the
scheduled job (:mod:`node.sync_job`) both call :func:`sync_app`."""

from __future__ import annotations

import logging

from flask import Flask

from node.db_session import app_session
from node.sync_result import RetryLater, RunResult
from shared.exchange.child import SyncOutcome, sync_until_quiet
from shared.exchange.transport import frame_session, http_transport

LOG = logging.getLogger("sanji.node.sync")
_TRANSPORT_TIMEOUT = 180.0  # a parent applying a large batch on a busy machine
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
    return outcomes


def job_run(app: Flask) -> RunResult:
    """One scheduled run: True when the parent answered (the backoff resets); when it asked
    to be left alone for a while (``Retry-After``), how long."""
    outcomes = sync_app(app)
    if outcomes and outcomes[-1].ok:
        return True
    if outcomes and outcomes[-1].retry_after is not None:
        return RetryLater(outcomes[-1].retry_after)
    return False
