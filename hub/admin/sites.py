"""The hub's administration pages (管理): the tree of sites, the users, the releases, and the
public working-day calendar.

Operators of the city centre run the tree from here instead of the ``sanji hub`` commands:
add a site and hand its one-time enrolment code to whoever installs the PC, issue a new code
when a village PC is replaced, move a site under another parent, add users, publish a
catalogue. Admins and supervisors may look; only admins change anything. Like the window
pages these are plain server-rendered HTML with a few hundred bytes of inline CSS and no
script, every page far below 60 KB (long lists are paged) so it opens over a 64 kbit/s link;
every form carries the login session's CSRF token (:func:`shared.web.pages.csrf_token`).
The texts are :mod:`hub.i18n`'s: Chinese by default, English with ``?lang=en``.

The domain rules live where the CLI uses them too (:mod:`hub.sites`, :func:`add_user`,
:func:`import_catalogue`); a refusal is shown on the page with every problem it lists. One-time
secrets (enrolment codes, TOTP secrets) appear only in the answer to the form that made them:
never in a redirect, the session cookie or a cache.
"""

from __future__ import annotations

import calendar as month_calendar
import contextlib
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pyotp
import segno
from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from hub.db_session import get_session
from hub.models import HubCase, HubEnrolmentCode, HubSite
from hub.releases import HubRelease, import_catalogue, published_years
from hub.services import services
from hub.sites import IssuedCode, add_site, issue_code, move_site, path_up
from hub.user_sync import AccountChange, change_account, publish_account
from shared.domain.errors import DomainError, InvalidInput, NotFound, Problems
from shared.domain.release_content import CALENDAR, CATALOGUE
from shared.domain.working_days import SHANGHAI, WorkingDayCalendar, local_date
from shared.exchange.site import WIRE_VERSION
from shared.exchange.status import child_ack, child_info
from shared.exchange.tree import children_of
from shared.storage import sync_store
from shared.storage.accounts import USER_ROLES, UserAccount, add_user
from shared.web.i18n import t
from shared.web.pages import CSRF_FIELD, csrf_ok, csrf_token, no_store, refusal_page, signed_in
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

bp = Blueprint("admin", __name__)
bp.register_error_handler(
    DomainError, lambda exc: refusal_page("admin/base.html", exc, "adm"))
bp.after_request(no_store)

VIEW_ROLES = ("admin", "supervisor")
EDIT_ROLE = "admin"
SITE_ROWS = 120
"""Sites per page of the tree: a page of the fullest rows stays near 45 KB."""
USER_ROWS = 150
"""Users per page: a page of the fullest rows stays near 40 KB."""
RELEASE_ROWS = 100
MAX_PROBLEMS = 300
"""Problems of a bad catalogue listed on the page; the rest are counted (page size)."""
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
"""A catalogue file is a few hundred KB; anything far larger is a wrong file."""
CHILD_TIERS = ("county", "township", "village")

TIERS = ("city", "county", "township", "village")
RELEASE_KINDS = (CATALOGUE, CALENDAR)


def _names(prefix: str, codes: Sequence[str]) -> dict[str, str]:
    """``code -> name`` in this request's language, from the ``prefix.code`` texts."""
    return {code: t(f"{prefix}.{code}") for code in codes}


def _holiday(name: str) -> str:
    """A holiday's name in this request's language (as the calendar data names it when the
    table does not know it)."""
    key = f"cal.h.{name}"
    text = t(key)
    return name if text == key else text


# -- what the pages show --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteRow:
    """One site of the tree as the operators' map shows it."""

    code: str
    name: str
    tier: str
    depth: int
    parent: str | None
    enrolled: str | None
    code_valid_until: str | None
    key_id: str | None
    direct: bool
    contact: str | None
    """Last request (a direct child) or newest event recorded from it (deeper sites)."""
    epoch: int | None
    pending_down: int | None
    open_cases: int
    wire_version: int | None


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
    kind: str
    version: int
    effective_from: str
    expires: str
    published_by: str
    published_at: str
    note: str
    status: str
    """``in_force``, ``pending`` (takes effect later) or ``replaced``."""


@dataclass(frozen=True, slots=True)
class DayCell:
    day: int
    kind: str
    """``work``, ``weekend``, ``holiday`` (off) or ``adjusted`` (a weekend day worked, 调休)."""
    name: str | None


@dataclass(frozen=True, slots=True)
class HolidayPeriod:
    name: str
    off: list[str]
    """Runs of days off, ``MM-DD – MM-DD``."""
    off_days: int
    worked: list[str]


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A supervisor's or admin's TOTP secret, shown once with its enrolment QR code."""

    username: str
    secret: str
    qr_svg: Markup
    """The ``otpauth://`` URI as a QR code, for the authenticator app's camera."""


# -- helpers --------------------------------------------------------------------------------


def _is_admin() -> bool:
    return signed_in().role == EDIT_ROLE


def _when(ms: int | None) -> str | None:
    """Epoch milliseconds as Asia/Shanghai time, the way the centre reads clocks."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(SHANGHAI).strftime(
        "%Y-%m-%d %H:%M")


def _start(value: str | None) -> int:
    """A page offset from the query string; anything odd is the first page."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _field(name: str, limit: int = 200) -> str:
    return request.form.get(name, "").strip()[:limit]


def _refusal(exc: DomainError) -> dict[str, str]:
    """Every problem a refusal names, field by field (the summary when it names none)."""
    return dict(exc.fields) or {"": exc.reason}


def _csrf_refused() -> ResponseReturnValue:
    return render_template("admin/base.html", me=signed_in(), problem=t("form_expired")), 400


# -- sites ----------------------------------------------------------------------------------


def _tree(sites: Sequence[HubSite], top: str | None) -> list[tuple[HubSite, int]]:
    """Sites depth-first under their parents (children by code) with their depth.

    A site whose parent is not registered, or that a bad move put into a loop, still
    appears — at the top level — so no site ever drops off the map.
    """
    by_code = {s.code: s for s in sites}
    children: dict[str, list[HubSite]] = defaultdict(list)
    roots: list[HubSite] = []
    for site in sorted(sites, key=lambda s: (s.parent is not None, s.code)):
        if site.parent is None or site.parent not in by_code or site.parent == site.code:
            roots.append(site)
        else:
            children[site.parent].append(site)
    order: list[tuple[HubSite, int]] = []
    seen: set[str] = set()

    def walk(start: HubSite) -> None:
        stack = [(start, 0)]
        while stack:
            site, depth = stack.pop()
            if site.code in seen:
                continue
            seen.add(site.code)
            order.append((site, depth))
            stack.extend((c, depth + 1) for c in reversed(children[site.code]))

    if top is not None:
        walk(by_code[top])
        return order
    for root in roots:
        walk(root)
    for site in sorted(sites, key=lambda s: s.code):
        walk(site)  # only sites caught in a loop are left unseen by now
    return order


def _direct_children(session: Session, hub_code: str, sites: Sequence[HubSite]) -> set[str]:
    """Sites that talk to the hub itself: certified under it, or registered under it (a
    moved site keeps its certificate's parent until it enrols again)."""
    registered = {s.code for s in sites if s.parent == hub_code}
    return registered | children_of(session, hub_code)


def _site_rows(session: Session, order: Sequence[tuple[HubSite, int]], hub_code: str,
               direct: set[str], now: datetime) -> list[SiteRow]:
    codes = [site.code for site, _ in order]
    last_event = dict(session.execute(
        select(sync_store.SyncEvent.origin, func.max(sync_store.SyncEvent.recorded_ms))
        .where(sync_store.SyncEvent.origin.in_(codes))
        .group_by(sync_store.SyncEvent.origin)).all())
    open_cases = dict(session.execute(
        select(HubCase.origin, func.count())
        .where(HubCase.origin.in_(codes), HubCase.open == 1)
        .group_by(HubCase.origin)).all())
    valid_codes = dict(session.execute(
        select(HubEnrolmentCode.site, func.max(HubEnrolmentCode.expires_ms))
        .where(HubEnrolmentCode.site.in_(codes), HubEnrolmentCode.used_ms.is_(None),
               HubEnrolmentCode.expires_ms > to_ms(now))
        .group_by(HubEnrolmentCode.site)).all())
    rows: list[SiteRow] = []
    for site, depth in order:
        is_direct = site.code in direct
        info = child_info(session, site.code) if is_direct else None
        if is_direct:
            contact_ms = info.get("last_contact_ms") if info else None
            pending: int | None = sync_store.count_down_after(
                session, site.code, child_ack(session, site.code))
        else:
            contact_ms = last_event.get(site.code)
            pending = None
        wire = WIRE_VERSION if site.code == hub_code else (
            info.get("wire_version") if info else None)
        rows.append(SiteRow(
            code=site.code, name=site.name, tier=site.tier, depth=depth, parent=site.parent,
            enrolled=_when(site.enrolled_ms), code_valid_until=_when(valid_codes.get(site.code)),
            key_id=site.key_id, direct=is_direct,
            contact=_when(contact_ms if isinstance(contact_ms, int) else None),
            epoch=info.get("epoch") if info else None, pending_down=pending,
            open_cases=int(open_cases.get(site.code, 0)), wire_version=wire,
        ))
    return rows


def _render_sites(*, issued: IssuedCode | None = None, issued_kind: str = "",
                  problems: Mapping[str, str] | None = None, failed: str = "",
                  status: int = 200) -> ResponseReturnValue:
    """The tree (``?under=`` a site zooms in, ``?start=`` pages on) with the forms."""
    session = get_session()
    hub = services()
    hub_code = hub.settings.site_code
    sites = list(session.scalars(select(HubSite)))
    under = request.args.get("under", "").strip() or None
    if under is not None and under not in {s.code for s in sites}:
        raise NotFound("under", f"no site {under}")
    order = _tree(sites, under)
    start = _start(request.args.get("start"))
    shown = order[start:start + SITE_ROWS]
    direct = _direct_children(session, hub_code, sites)
    rows = _site_rows(session, shown, hub_code, direct, hub.clock())
    html = render_template(
        "admin/sites.html", me=signed_in(), admin=_is_admin(), rows=rows, total=len(order),
        start=start, limit=SITE_ROWS, under=under,
        path=list(reversed(path_up(session, under))) if under else [],
        tiers=_names("adm.tier", TIERS), child_tiers=CHILD_TIERS, hub_code=hub_code,
        issued=issued, issued_kind=issued_kind, issued_until=(
            issued.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            if issued else None),
        problems=problems or {}, failed=failed, form=request.form,
        moved=request.args.get("moved", ""), csrf=csrf_token(),
    )
    return html, status


@bp.get("/admin")
@require_user(*VIEW_ROLES)
def home() -> ResponseReturnValue:
    return redirect(url_for(".sites"))


@bp.get("/admin/sites")
@require_user(*VIEW_ROLES)
def sites() -> ResponseReturnValue:
    """The operators' map of the tree."""
    return _render_sites()


@bp.post("/admin/sites")
@require_user(EDIT_ROLE)
def add_site_form() -> ResponseReturnValue:
    """Register a site and show its one-time enrolment code, in this answer only."""
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
    session = get_session()
    hub = services()
    try:
        issued = add_site(session, code=_field("code", 20), name=_field("name", 100),
                          tier=_field("tier", 20), parent=_field("parent", 20),
                          now=hub.clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=_refusal(exc), failed="add", status=exc.http_status)
    except IntegrityError:  # another admin added the same code a moment ago
        session.rollback()
        return _render_sites(problems={"code": "added meanwhile by someone else"},
                             failed="add", status=409)
    return _render_sites(issued=issued, issued_kind="add", status=201)


@bp.post("/admin/sites/reenrol")
@require_user(EDIT_ROLE)
def reenrol_form() -> ResponseReturnValue:
    """A new one-time code for a site whose PC was replaced; earlier unused codes stop
    working at once."""
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
    session = get_session()
    hub = services()
    site = _field("site", 20)
    try:
        if site == hub.settings.site_code:
            raise InvalidInput("site", "the hub does not enrol with itself")
        issued = issue_code(session, site, now=hub.clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=_refusal(exc), failed="reenrol", status=exc.http_status)
    return _render_sites(issued=issued, issued_kind="reenrol", status=201)


def _move_problem(session: Session, hub_code: str, site: str, parent: str) -> str | None:
    """Moves that would cut a site off the tree (:func:`move_site` does not check these)."""
    if site == hub_code:
        return "the hub is the root of the tree and has no parent"
    if site in {code for code, _ in path_up(session, parent)}:
        return f"{parent} is {site} itself or below it: the tree would become a loop"
    return None


@bp.post("/admin/sites/move")
@require_user(EDIT_ROLE)
def move_form() -> ResponseReturnValue:
    """Put a site under another parent; it takes effect at the site's next enrolment."""
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
    session = get_session()
    site, parent = _field("site", 20), _field("parent", 20)
    try:
        problem = _move_problem(session, services().settings.site_code, site, parent)
        if problem is not None:
            raise InvalidInput("parent", problem)
        move_site(session, site, parent)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=_refusal(exc), failed="move", status=exc.http_status)
    return redirect(url_for(".sites", moved=site), 303)


# -- users ----------------------------------------------------------------------------------


def _new_secret(user: UserAccount) -> NewSecret | None:
    if not user.totp_secret:
        return None
    issuer = f"Sanji {services().settings.site_code}"
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=issuer)
    svg = segno.make(uri, error="m").svg_inline(scale=3, border=2)
    # segno writes the SVG itself (path data only, nothing taken from the request)
    return NewSecret(user.username, user.totp_secret, Markup(svg))  # noqa: S704


def _render_users(*, secret: NewSecret | None = None,
                  problems: Mapping[str, str] | None = None,
                  status: int = 200) -> ResponseReturnValue:
    """The accounts (``?site=`` filters, ``?start=`` pages on) with the form to add one."""
    session = get_session()
    site = request.args.get("site", "").strip()[:20]
    query = select(UserAccount)
    count_query = select(func.count()).select_from(UserAccount)
    if site:
        query = query.where(UserAccount.site == site)
        count_query = count_query.where(UserAccount.site == site)
    start = _start(request.args.get("start"))
    users = list(session.scalars(query.order_by(UserAccount.site, UserAccount.username)
                                 .offset(start).limit(USER_ROWS)))
    names = dict(session.execute(select(HubSite.code, HubSite.name).where(
        HubSite.code.in_({u.site for u in users}))).all())
    catalogue = services().catalogue
    html = render_template(
        "admin/users.html", me=signed_in(), admin=_is_admin(), users=users,
        total=int(session.scalar(count_query) or 0), start=start, limit=USER_ROWS,
        site_filter=site, site_names=names, roles=_names("adm.role", USER_ROLES),
        role_codes=USER_ROLES,
        windows=catalogue.windows, when=_when, secret=secret, problems=problems or {},
        form=request.form, added=request.args.get("added", ""),
        hub_code=services().settings.site_code, csrf=csrf_token(),
    )
    return html, status


@bp.get("/admin/users")
@require_user(*VIEW_ROLES)
def users() -> ResponseReturnValue:
    """Who can log in where, with which role and window."""
    return _render_users()


def _account_context_problems(session: Session, site: str, window: str | None) -> dict[str, str]:
    """What :func:`add_user` cannot know: whether the site and window exist here."""
    problems: dict[str, str] = {}
    if site and session.get(HubSite, site) is None:
        problems["site"] = f"no site {site} in the registry"
    if window:
        try:
            services().catalogue.window(window)
        except NotFound as exc:
            problems["window"] = exc.reason
    return problems


@bp.post("/admin/users")
@require_user(EDIT_ROLE)
def add_user_form() -> ResponseReturnValue:
    """Add an account; a supervisor's or admin's TOTP secret is shown in this answer only."""
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
    session = get_session()
    site = _field("site", 20)
    window = _field("window", 60) or None
    context = _account_context_problems(session, site, window)
    try:
        try:
            user = add_user(session, username=_field("username", 80),
                            password=request.form.get("password", "")[:300],
                            role=_field("role", 20), site=site, window=window,
                            department=_field("department", 60) or None,
                            now=services().clock())
        except Problems as exc:
            raise Problems({**context, **exc.fields}, exc.reason) from None
        if context:
            raise Problems(context, "the account is not valid")
        publish_account(session, services().sync_site, user, actor=_actor(),
                        now=services().clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_users(problems=_refusal(exc), status=exc.http_status)
    except IntegrityError:  # another admin took the username a moment ago
        session.rollback()
        return _render_users(problems={"username": "already taken"}, status=409)
    secret = _new_secret(user)
    if secret is None:
        return redirect(url_for(".users", added=user.username), 303)
    return _render_users(secret=secret, status=201)


def _actor() -> str:
    """Who changes an account, as the event that carries it down records it."""
    return f"{signed_in().role}:{signed_in().username}"


def _render_user(user: UserAccount, *, secret: NewSecret | None = None,
                 problems: Mapping[str, str] | None = None, changed: str = "",
                 status: int = 200) -> ResponseReturnValue:
    html = render_template(
        "admin/user.html", me=signed_in(), admin=_is_admin(), user=user,
        roles=_names("adm.role", USER_ROLES),
        role_codes=USER_ROLES, windows=services().catalogue.windows, when=_when,
        secret=secret, problems=problems or {}, changed=changed,
        hub_code=services().settings.site_code, csrf=csrf_token(),
    )
    return html, status


def _account(session: Session, username: str) -> UserAccount:
    user = session.get(UserAccount, username[:64])
    if user is None:
        raise NotFound("username", f"no user {username[:64]}")
    return user


@bp.get("/admin/users/<username>")
@require_user(*VIEW_ROLES)
def user_page(username: str) -> ResponseReturnValue:
    """One account, with the forms that disable it, set a new password or change its role."""
    return _render_user(_account(get_session(), username),
                        changed=request.args.get("changed", "")[:20])


def _form_change() -> AccountChange:
    """The one change the submitted form asks for (each form sends its ``change``)."""
    kind = _field("change", 20)
    if kind in ("disable", "enable"):
        return AccountChange(active=kind == "enable")
    if kind == "password":
        return AccountChange(password=request.form.get("password", "")[:300])
    if kind == "role":
        return AccountChange(role=_field("role", 20), window=_field("window", 60) or None,
                             department=_field("department", 60) or None)
    raise InvalidInput("change", "one of disable, enable, password, role")


@bp.post("/admin/users/<username>")
@require_user(EDIT_ROLE)
def change_user_form(username: str) -> ResponseReturnValue:
    """Apply one change; it goes down to the user's site at its next exchange."""
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
    session = get_session()
    user = _account(session, username)
    try:
        change = _form_change()
        context = _account_context_problems(session, "", change.window)
        if context:
            raise Problems(context, "the account is not valid")
        done = change_account(session, services().sync_site, user.username, change,
                              actor=_actor(), now=services().clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_user(_account(session, username), problems=_refusal(exc),
                            status=exc.http_status)
    if done.new_secret:
        return _render_user(done.user, secret=_new_secret(done.user), changed="role",
                            status=200)
    return redirect(url_for(".user_page", username=done.user.username,
                            changed=_field("change", 20)), 303)


# -- releases -------------------------------------------------------------------------------


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
        rows.append(ReleaseRow(kind, version, _when(effective_ms) or "", _when(expires_ms) or "",
                               by, _when(at_ms) or "", note, status))
    return rows


def _children_releases(session: Session, in_force: Mapping[str, int]) -> list[ChildReleases]:
    hub_code = services().settings.site_code
    sites = list(session.scalars(select(HubSite)))
    by_code = {s.code: s for s in sites}
    rows: list[ChildReleases] = []
    for code in sorted(_direct_children(session, hub_code, sites)):
        info = child_info(session, code) or {}
        known = info.get("releases_known")
        held = {str(k): int(v) for k, v in known.items()} if isinstance(known, dict) else {}
        behind = frozenset(k for k, v in in_force.items() if held.get(k, 0) < v)
        site = by_code.get(code)
        contact = info.get("last_contact_ms")
        rows.append(ChildReleases(
            code, site.name if site else "", site.tier if site else "", held, behind,
            _when(contact if isinstance(contact, int) else None)))
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
        "admin/releases.html", me=signed_in(), admin=_is_admin(),
        releases=_release_rows(session, in_force, now), limit=RELEASE_ROWS,
        in_force=in_force, children=_children_releases(session, in_force),
        kinds=_names("adm.kind", RELEASE_KINDS), catalogue_in_use=hub.catalogue.version,
        published=published,
        problems=listed[:MAX_PROBLEMS], more_problems=max(0, len(listed) - MAX_PROBLEMS),
        csrf=csrf_token(),
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
    if not csrf_ok(request.form.get(CSRF_FIELD)):
        return _csrf_refused()
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
        effective = _effective_from(_field("effective_from", 20), now)
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
        return _render_releases(problems=_refusal(exc), status=exc.http_status)
    return redirect(url_for(".releases", published=release.version), 303)


# -- the public calendar --------------------------------------------------------------------


def _held_calendar(session: Session) -> WorkingDayCalendar:
    """The hub's calendar with every year it published on top (a published year newer than
    the shipped data replaces it)."""
    held = services().calendar
    for year in published_years(session):
        with contextlib.suppress(InvalidInput):  # not newer than the year already held
            held = held.with_release(year)
    return held


def _months(held: WorkingDayCalendar, year: int) -> list[tuple[int, list[list[DayCell | None]]]]:
    """Each month as weeks Monday to Sunday; days of the neighbouring months are blank."""
    months: list[tuple[int, list[list[DayCell | None]]]] = []
    grid = month_calendar.Calendar(firstweekday=0)
    for month in range(1, 13):
        weeks: list[list[DayCell | None]] = []
        for week in grid.monthdatescalendar(year, month):
            cells: list[DayCell | None] = []
            for day in week:
                if day.month != month:
                    cells.append(None)
                    continue
                working = held.is_working_day(day)
                weekend = day.weekday() >= 5
                name = held.day_name(day)
                if working:
                    kind = "adjusted" if weekend else "work"
                else:
                    kind = "holiday" if name or not weekend else "weekend"
                cells.append(DayCell(day.day, kind, name))
            weeks.append(cells)
        months.append((month, weeks))
    return months


def _runs(days: Sequence[date]) -> list[str]:
    """Consecutive days as ``MM-DD – MM-DD`` ranges (a single day alone)."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return [run[0].strftime("%m-%d") + (f" – {run[-1]:%m-%d}" if len(run) > 1 else "")
            for run in runs]


def _periods(held: WorkingDayCalendar, year: int) -> list[HolidayPeriod]:
    """Each named holiday with its days off and the weekend days worked in exchange."""
    data = held.year_data(year)
    off: dict[str, list[date]] = defaultdict(list)
    worked: dict[str, list[date]] = defaultdict(list)
    for day, name in data.holidays.items():
        off[name].append(day)
    for day, name in data.workdays.items():
        worked[name].append(day)
    names = sorted(off.keys() | worked.keys(), key=lambda n: min(off[n] or worked[n]))
    return [HolidayPeriod(name, _runs(off[name]), len(off[name]),
                          [f"{d:%m-%d}" for d in sorted(worked[name])])
            for name in names]


@bp.get("/calendar")
def calendar_now() -> ResponseReturnValue:
    """This year's calendar (Asia/Shanghai)."""
    return redirect(url_for(".calendar_year", year=local_date(services().clock()).year))


@bp.get("/calendar/<int:year>")
def calendar_year(year: int) -> ResponseReturnValue:
    """The working days of ``year`` as twelve month grids; public, like the service guide,
    so applicants and agents can count a time limit themselves."""
    held = _held_calendar(get_session())
    years = set(held.years)
    if year not in years:
        html = render_template("admin/calendar.html", year=year, months=[], held=False,
                               holiday=_holiday,
                               prev_held=year - 1 in years, next_held=year + 1 in years,
                               years=sorted(years))
        return html, 404
    html = render_template(
        "admin/calendar.html", year=year, held=True, data=held.year_data(year),
        months=_months(held, year), periods=_periods(held, year),
        weekdays=t("cal.weekdays").split(), month_names=t("cal.months").split(),
        holiday=_holiday,
        prev_held=year - 1 in years, next_held=year + 1 in years, years=sorted(years),
    )
    return html, 200, {"Cache-Control": "public, max-age=3600"}
