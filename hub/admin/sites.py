"""The operators' map of the tree of sites: add a site and hand its one-time enrolment code to
whoever installs the PC, issue a new code when a village PC is replaced, move a site under
another parent.

The rules live where the CLI uses them too (:mod:`hub.sites`). An enrolment code appears only
in the answer to the form that made it: never in a redirect, the session cookie or a cache.
Long trees are paged, so a page stays far below 60 KB.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.admin.blueprint import (
    EDIT_ROLE,
    VIEW_ROLES,
    bp,
    form_field,
    is_admin,
    names_by_code,
    page_start,
    problems_of,
    shanghai_time,
)
from hub.db_session import get_session
from hub.models import HubCase, HubEnrolmentCode, HubSite
from hub.services import services
from hub.sites import IssuedCode, add_site, issue_code, move_site, path_up
from shared.domain.errors import DomainError, InvalidInput, NotFound
from shared.domain.working_days import SHANGHAI
from shared.exchange.site import WIRE_VERSION
from shared.exchange.status import child_ack, child_info
from shared.exchange.tree import children_of
from shared.storage import sync_store
from shared.web.pages import signed_in
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

SITE_ROWS = 120
"""Sites per page of the tree: a page of the fullest rows stays near 45 KB."""
CHILD_TIERS = ("county", "township", "village")
TIERS = ("city", "county", "township", "village")


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


def direct_children(session: Session, hub_code: str, sites: Sequence[HubSite]) -> set[str]:
    """Sites that talk to the hub itself: certified under it, or registered under it (a
    moved site keeps its certificate's parent until it enrols again). The releases page lists
    what each of them holds."""
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
            enrolled=shanghai_time(site.enrolled_ms),
            code_valid_until=shanghai_time(valid_codes.get(site.code)),
            key_id=site.key_id, direct=is_direct,
            contact=shanghai_time(contact_ms if isinstance(contact_ms, int) else None),
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
    start = page_start(request.args.get("start"))
    shown = order[start:start + SITE_ROWS]
    direct = direct_children(session, hub_code, sites)
    rows = _site_rows(session, shown, hub_code, direct, hub.clock())
    html = render_template(
        "admin/sites.html", me=signed_in(), admin=is_admin(), rows=rows, total=len(order),
        start=start, limit=SITE_ROWS, under=under,
        path=list(reversed(path_up(session, under))) if under else [],
        tiers=names_by_code("adm.tier", TIERS), child_tiers=CHILD_TIERS, hub_code=hub_code,
        issued=issued, issued_kind=issued_kind, issued_until=(
            issued.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
            if issued else None),
        problems=problems or {}, failed=failed, form=request.form,
        moved=request.args.get("moved", ""),
    )
    return html, status


@bp.get("/admin/sites")
@require_user(*VIEW_ROLES)
def sites() -> ResponseReturnValue:
    """The operators' map of the tree."""
    return _render_sites()


@bp.post("/admin/sites")
@require_user(EDIT_ROLE)
def add_site_form() -> ResponseReturnValue:
    """Register a site and show its one-time enrolment code, in this answer only."""
    session = get_session()
    hub = services()
    try:
        issued = add_site(session, code=form_field("code", 20), name=form_field("name", 100),
                          tier=form_field("tier", 20), parent=form_field("parent", 20),
                          now=hub.clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=problems_of(exc), failed="add", status=exc.http_status)
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
    session = get_session()
    hub = services()
    site = form_field("site", 20)
    try:
        if site == hub.settings.site_code:
            raise InvalidInput("site", "the hub does not enrol with itself")
        issued = issue_code(session, site, now=hub.clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=problems_of(exc), failed="reenrol", status=exc.http_status)
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
    session = get_session()
    site, parent = form_field("site", 20), form_field("parent", 20)
    try:
        problem = _move_problem(session, services().settings.site_code, site, parent)
        if problem is not None:
            raise InvalidInput("parent", problem)
        move_site(session, site, parent)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_sites(problems=problems_of(exc), failed="move", status=exc.http_status)
    return redirect(url_for(".sites", moved=site), 303)
