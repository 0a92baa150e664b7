"""Whether this node's work has reached its parent, on every page (同步状态).

A village agent has to know, before telling a citizen "your case is on its way", whether the
case has actually left the PC. Every page's header shows one small server-rendered badge:

- green: nothing waits to go up (with the time of the last successful exchange);
- amber: events wait, and the parent answered at the last attempt (they go with the next);
- red: the last attempt failed (offline since the last success; the error in the tooltip);
- grey: the node is not enrolled yet (no parent to send to), or the database could not be
  read (the badge must never be the reason a page fails).

The badge is computed lazily, at most once per request, from two small reads (the stored
exchange status and the count of pending outbox rows) on a session of its own, so a request
whose own session is mid-transaction or broken is not disturbed. ``GET /sync`` shows the full
status (:func:`shared.exchange.status.sync_status`) and ``POST /sync/now`` brings the next exchange
forward.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from node.db_session import app_session, get_session
from node.i18n import t
from node.services import services
from shared.domain.working_days import SHANGHAI
from shared.exchange.release_watch import ReleaseWarning, node_release_watch, release_warnings
from shared.exchange.status import read_status, sync_status
from shared.storage.sync_store import count_pending_up

LOG = logging.getLogger("sanji.node.sync")
ERROR_TITLE_CHARS = 80
"""How much of the last error the badge's tooltip shows (the /sync page shows all of it)."""
_CACHE = "sync_indicator"
_UNREADABLE = (SQLAlchemyError, OSError, ValueError)
"""What reading the status may raise when the database (or the key it needs) is not there:
a missing or locked file, no schema yet, a damaged status record."""

COLOURS: Mapping[str, str] = {
    "synced": "green",
    "pending": "amber",
    "offline": "red",
    "unenrolled": "grey",
    "unknown": "grey",
}


@dataclass(frozen=True, slots=True)
class SyncFacts:
    """The little the badge needs, read in one go."""

    enrolled: bool
    pending_up: int = 0
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Indicator:
    """The badge as the header shows it: ``state`` picks the colour, ``text`` is the label
    and ``title`` the tooltip."""

    state: str
    text: str
    title: str = ""

    @property
    def colour(self) -> str:
        return COLOURS[self.state]


def read_facts() -> SyncFacts:
    """The stored exchange status and the pending count; raises what the database raises."""
    site = services().sync_site  # built once per app (its first build reads the epoch)
    if site.parent is None:
        return SyncFacts(enrolled=False)
    with app_session(current_app) as session:
        return SyncFacts(enrolled=True, pending_up=count_pending_up(session),
                         status=read_status(session))


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def clock_text(at: datetime, now: datetime) -> str:
    """``HH:MM`` in Shanghai time, with the date in front when it is not today's."""
    local, today = at.astimezone(SHANGHAI), now.astimezone(SHANGHAI)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def indicator_for(facts: SyncFacts, now: datetime) -> Indicator:
    """The badge for ``facts`` (pure: the texts come from :func:`node.i18n.t`)."""
    if not facts.enrolled:
        return Indicator("unenrolled", t("sync_unenrolled"), t("sync_unenrolled_hint"))
    status = facts.status or {}
    success = _parse(status.get("last_success"))
    since = f"{t('sync_last_success')}: {clock_text(success, now)}" if success else ""
    error = status.get("last_error")
    if error:
        label = t("sync_offline") if status.get("parent_reachable") is False \
            else t("sync_refused")
        if success is not None:
            label += " " + t("sync_since").format(at=clock_text(success, now))
        text = f"{label} — {t('sync_waiting').format(n=facts.pending_up)}"
        return Indicator("offline", text, str(error)[:ERROR_TITLE_CHARS])
    if facts.pending_up:
        return Indicator("pending", t("sync_waiting").format(n=facts.pending_up), since)
    text = t("sync_synced") + (f" {clock_text(success, now)}" if success else "")
    return Indicator("synced", text, since)


def current_indicator() -> Indicator:
    """This request's badge, computed on first use; grey "unknown" when the database cannot
    be read (logged, never raised: the page around it must still open)."""
    cached = g.get(_CACHE)
    if isinstance(cached, Indicator):
        return cached
    try:
        found = indicator_for(read_facts(), services().clock())
    except _UNREADABLE as exc:
        LOG.warning("sync status unreadable", extra={"fields": {"error": type(exc).__name__}})
        found = Indicator("unknown", t("sync_unknown"), t("sync_unknown_hint"))
    setattr(g, _CACHE, found)
    return found


bp = Blueprint("sync", __name__)


@bp.get("/sync")
def page() -> ResponseReturnValue:
    """The whole status: the badge, the queues both ways, the times, the byte counters, and
    a warning when a release is frozen or the parent offered an older one."""
    node = services()
    status: dict[str, object] | None
    warnings: list[ReleaseWarning] = []
    try:
        site = node.sync_site
        parent, parent_url = site.parent, site.parent_url
        status = sync_status(get_session(), site)
        warnings = release_warnings(node_release_watch(get_session(), node.clock()),
                                    node.clock())
    except _UNREADABLE as exc:
        get_session().rollback()
        LOG.warning("sync status unreadable", extra={"fields": {"error": type(exc).__name__}})
        status, parent, parent_url = None, None, None
    next_run = node.sync_job.next_run if node.sync_job is not None else None
    times = {key: _parse(status.get(key)) if status else None
             for key in ("last_success", "last_attempt")}
    return render_template(
        "sync.html",
        status=status,
        parent=parent,
        parent_url=parent_url,
        times=times,
        next_run=next_run if isinstance(next_run, datetime) else None,
        nudged=request.args.get("nudged") == "1",
        release_warnings=warnings,
    )


@bp.post("/sync/now")
def now() -> ResponseReturnValue:
    """Ask the sync job to exchange soon, then back to the status page (303)."""
    services().nudge_sync()
    return redirect(url_for(".page", nudged=1), 303)


def init_app(app: Flask) -> None:
    """Serve ``/sync`` and give every template ``sync_indicator()``."""
    app.register_blueprint(bp)

    @app.context_processor
    def _sync_indicator() -> dict[str, Any]:
        # A function, not a value: templates that never show the badge cost no query.
        return {"sync_indicator": current_indicator}
