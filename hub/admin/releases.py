"""The releases the hub signed (catalogues, working-day calendars) and which versions each
direct child holds; an admin publishes a catalogue here by uploading its file.

The rules live where the CLI uses them too (:func:`hub.releases.import_catalogue`): a bad file
is listed problem by problem on the page and nothing is published.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from hub.admin.blueprint import (
    EDIT_ROLE,
    VIEW_ROLES,
    bp,
    form_field,
    is_admin,
    names_by_code,
    problems_of,
    shanghai_time,
)
from hub.admin.sites import direct_children
from hub.db_session import get_session
from hub.models import HubSite
from hub.releases import HubRelease, import_catalogue
from hub.services import services
from shared.domain.errors import DomainError, InvalidInput
from shared.domain.release_content import CALENDAR, CATALOGUE
from shared.domain.working_days import SHANGHAI, local_date
from shared.exchange.status import child_info
from shared.web.pages import signed_in
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

RELEASE_ROWS = 100
MAX_PROBLEMS = 300
"""Problems of a bad catalogue listed on the page; the rest are counted (page size)."""
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""A catalogue file is a few hundred KB; anything far larger is a wrong file."""
RELEASE_KINDS = (CATALOGUE, CALENDAR)


@dataclass(frozen=True, slots=True)
class ChildReleases:
    """What a direct child said it holds, against the newest releases in force."""

    code: str
    name: str
    tier: str
    held: Mapping[str, int]
    behind: frozenset[str]
    contact: str | None


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """One published release as the list shows it."""

    kind: str
    version: int
    effective_from: str
    expires: str
    published_by: str
    published_at: str
    note: str
    status: str
    """``in_force``, ``pending`` (takes effect later) or ``replaced``."""


def _newest_in_force(session: Session, now: datetime) -> dict[str, int]:
    """Per kind, the highest version already in force (what every child should hold)."""
    return dict(session.execute(
        select(HubRelease.kind, func.max(HubRelease.version))
        .where(HubRelease.effective_from_ms <= to_ms(now))
        .group_by(HubRelease.kind)).all())


def _release_rows(session: Session, in_force: Mapping[str, int], now: datetime
                  ) -> list[ReleaseRow]:
    now_ms = to_ms(now)
    # Columns only: a catalogue release's content is hundreds of KB.
    found = session.execute(select(
        HubRelease.kind, HubRelease.version, HubRelease.effective_from_ms,
        HubRelease.expires_at_ms, HubRelease.published_by, HubRelease.published_at_ms,
        HubRelease.note).order_by(HubRelease.published_at_ms.desc(),
                                  HubRelease.version.desc()).limit(RELEASE_ROWS))
    rows: list[ReleaseRow] = []
    for kind, version, effective_ms, expires_ms, by, at_ms, note in found:
        if effective_ms > now_ms:
            status = "pending"
        elif version == in_force.get(kind):
            status = "in_force"
        else:
            status = "replaced"
        rows.append(ReleaseRow(kind, version, shanghai_time(effective_ms) or "",
                               shanghai_time(expires_ms) or "", by, shanghai_time(at_ms) or "",
                               note, status))
    return rows


def _children_releases(session: Session, in_force: Mapping[str, int]) -> list[ChildReleases]:
    hub_code = services().settings.site_code
    sites = list(session.scalars(select(HubSite)))
    by_code = {s.code: s for s in sites}
    rows: list[ChildReleases] = []
    for code in sorted(direct_children(session, hub_code, sites)):
        info = child_info(session, code) or {}
        known = info.get("releases_known")
        held = {str(k): int(v) for k, v in known.items()} if isinstance(known, dict) else {}
        behind = frozenset(k for k, v in in_force.items() if held.get(k, 0) < v)
        site = by_code.get(code)
        contact = info.get("last_contact_ms")
        rows.append(ChildReleases(
            code, site.name if site else "", site.tier if site else "", held, behind,
            shanghai_time(contact if isinstance(contact, int) else None)))
    return rows


def _render_releases(*, published: int | None = None,
                     problems: Mapping[str, str] | None = None,
                     status: int = 200) -> ResponseReturnValue:
    session = get_session()
    hub = services()
    now = hub.clock()
    in_force = _newest_in_force(session, now)
    listed = list((problems or {}).items())
    html = render_template(
        "admin/releases.html", me=signed_in(), admin=is_admin(),
        releases=_release_rows(session, in_force, now), limit=RELEASE_ROWS,
        in_force=in_force, children=_children_releases(session, in_force),
        kinds=names_by_code("adm.kind", RELEASE_KINDS), catalogue_in_use=hub.catalogue.version,
        published=published,
        problems=listed[:MAX_PROBLEMS], more_problems=max(0, len(listed) - MAX_PROBLEMS),
    )
    return html, status


@bp.get("/admin/releases")
@require_user(*VIEW_ROLES)
def releases() -> ResponseReturnValue:
    """What the hub published and which versions each direct child holds."""
    published = request.args.get("published", "")
    return _render_releases(published=int(published) if published.isdigit() else None)


def _effective_from(value: str, now: datetime) -> datetime | None:
    """The start of a date (Asia/Shanghai) a catalogue takes effect; blank or today: now."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("effective_from", "a date as YYYY-MM-DD") from None
    if day == local_date(now):
        return None
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


@bp.post("/admin/releases")
@require_user(EDIT_ROLE)
def upload_catalogue() -> ResponseReturnValue:
    """Check an uploaded catalogue file and publish it as the next signed release; a bad
    file is listed problem by problem and nothing is published."""
    session = get_session()
    hub = services()
    now = hub.clock()
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("file", "choose a catalogue file (.yaml, .yml or .json)")
        data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput("file", f"larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        effective = _effective_from(form_field("effective_from", 20), now)
        suffix = Path(upload.filename).suffix.lower()
        name = secure_filename(upload.filename) or f"catalogue{suffix}"
        with tempfile.TemporaryDirectory(prefix="sanji-catalogue-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            release = import_catalogue(session, hub.key, path, effective_from=effective,
                                       now=now, by=signed_in().username)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_releases(problems=problems_of(exc), status=exc.http_status)
    return redirect(url_for(".releases", published=release.version), 303)
