"""The city centre's registration pages (窗口受理登记): the front desk's agent, or the operator
of a hall window, registers a walk-in's application on a page, as a village agent does at
the station (``node/intake_views.py``).

Pick an item (searched by name, code or pinyin initials, or among the window's own items),
fill the applicant and the form generated from the item's definition, attach the scans, pick
how the result is delivered, register. The application is checked and written by the front
desk's own functions (:func:`hub.front_desk.check_walk_in`, :func:`hub.front_desk.write_walk_in`),
so the page and ``POST /api/v1/cases`` make the same case, routed by the hub's hooks. No
script: a refused form comes back with every value kept and each problem beside its field,
and nothing is written. The form carries a hidden once-key: a second click on a slow link
gets the case the first one registered (:func:`hub.front_desk.answer_once`).

Opened from a window's calling page (``?window=&ticket=``), the page registers for the ticket
being served and links the ticket to the new case in the same transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from hub import hall_queue as queue
from hub import hall_site
from hub.db_session import get_session
from hub.desk_texts import MESSAGES
from hub.front_desk import answer_once, check_walk_in, recorded_answer, write_walk_in
from hub.hall_models import HubHallBooking
from hub.services import services
from shared.domain.application import DELIVERIES
from shared.domain.catalogue import ServiceItem, search_items
from shared.domain.errors import DomainError, NotFound, NotPermitted, Problems, StateConflict
from shared.storage.accounts import Claims
from shared.web.application_form import applicant_from_form, form_from_form, scans_from_form
from shared.web.i18n import add_messages, t
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user

bp = Blueprint("desk", __name__, url_prefix="/desk")
bp.record_once(lambda state: add_messages(state.app, MESSAGES))
bp.after_request(no_store)

REGISTRARS = ("agent", "admin", "window_operator")
"""Who registers at the city centre: its front desk's agents, admins, and the operators of
its windows (each for the items of their own window)."""
MAX_LISTED_ITEMS = 40
_ONCE_KEY = re.compile(r"[0-9a-f]{32}")
_TICKET = re.compile(r"[A-Z]{1,2}[0-9]{3,4}")


@dataclass(frozen=True, slots=True)
class Calling:
    """The ticket a window is serving, which the page was opened for."""

    window: str
    ticket: str


def _registrar() -> Claims:
    claims = signed_in()
    if claims.site != services().settings.site_code:
        raise NotPermitted("site", "register at the desk of your own site")
    return claims


def registrable(claims: Claims, item: ServiceItem) -> bool:
    """An operator registers the items of their own window; the desk registers every item."""
    return claims.role != "window_operator" or item.window == claims.window


def _item(claims: Claims, code: str) -> ServiceItem:
    try:
        item = services().catalogue.item(code[:40])
    except NotFound:
        abort(404)
    if not registrable(claims, item):
        raise NotPermitted("item_code", t("desk.other_window").format(window=item.window))
    return item


def _calling(claims: Claims, values: Any) -> Calling | None:
    """The ticket of ``values`` (``window`` and ``ticket``) when both are given; refused
    when the user may not call for that window (:func:`hub.hall_site.calling_window`)."""
    window = str(values.get("window", ""))[:20]
    ticket = str(values.get("ticket", "")).strip().upper()[:8]
    if not window or not ticket:
        return None
    if not _TICKET.fullmatch(ticket):
        raise NotFound("ticket", f"no ticket {ticket}")
    hall_site.calling_window(claims, window)
    return Calling(window, ticket)


def _booked_item(session: Session, calling: Calling | None) -> str | None:
    """The item the ticket's citizen booked for, if they booked one."""
    if calling is None:
        return None
    try:
        ticket = queue.called_ticket(session, calling.window, calling.ticket,
                                     services().clock())
    except NotFound:
        return None
    if ticket.booking_id is None:
        return None
    booking = session.get(HubHallBooking, ticket.booking_id)
    return booking.item_code if booking is not None else None


def _ticket_args(calling: Calling | None) -> dict[str, str]:
    return {"window": calling.window, "ticket": calling.ticket} if calling else {}


@bp.get("")
@require_user(*REGISTRARS)
def pick() -> ResponseReturnValue:
    """Pick the item: the booked one, the window's own, or any found by the search."""
    claims = _registrar()
    calling = _calling(claims, request.args)
    catalogue = services().catalogue
    query = request.args.get("q", "")[:50]
    allowed = [i for i in catalogue.items if registrable(claims, i)]
    window = calling.window if calling else claims.window
    own = [i for i in allowed if window and i.window == window][:MAX_LISTED_ITEMS]
    found = search_items(allowed, query)[:MAX_LISTED_ITEMS] if query else []
    booked_code = _booked_item(get_session(), calling)
    booked = next((i for i in allowed if i.code == booked_code), None)
    return render_template("desk/pick.html", me=claims, calling=calling, q=query, own=own,
                           found=found, booked=booked, ticket_args=_ticket_args(calling))


def _render(item: ServiceItem, claims: Claims, calling: Calling | None, *,
            values: dict[str, str], errors: dict[str, str], key: str, kind: str,
            status: int = 200, problem: str | None = None) -> ResponseReturnValue:
    html = render_template(
        "desk/form.html", me=claims, item=item, calling=calling, values=values,
        errors=errors, once_key=key, kind=kind, deliveries=DELIVERIES, problem=problem,
        ticket_args=_ticket_args(calling),
        texts={"choose": t("desk.choose"), "yes": t("desk.yes"), "no": t("desk.no")})
    return html, status


@bp.get("/register/<item_code>")
@require_user(*REGISTRARS)
def form(item_code: str) -> ResponseReturnValue:
    """The item's application form, empty, with a fresh once-key."""
    claims = _registrar()
    item = _item(claims, item_code)
    calling = _calling(claims, request.args)
    kind = "company" if request.args.get("kind") == "company" else "person"
    return _render(item, claims, calling, values={}, errors={}, key=uuid.uuid4().hex,
                   kind=kind)


def _record_key(claims: Claims, key: str) -> str:
    return f"desk:{claims.username}:{key}"


@bp.post("/register/<item_code>")
@require_user(*REGISTRARS)
def submit(item_code: str) -> ResponseReturnValue:
    """Register the application (and link the ticket it was opened for): the result page
    (303), or the form again with each problem beside its field and nothing written."""
    claims = _registrar()
    item = _item(claims, item_code)
    values = request.form
    calling = _calling(claims, values)
    kind = "company" if values.get("applicant.kind") == "company" else "person"
    key = values.get("once_key", "")
    if not _ONCE_KEY.fullmatch(key):
        key = uuid.uuid4().hex
    kept = {k: v for k, v in values.items()
            if k not in ("once_key", "csrf_token", "window", "ticket")}
    errors: dict[str, str] = {}
    files = scans_from_form(item, request.files, errors)
    scans: list[dict[str, Any]] = []
    for f in files:
        entry = {"code": f.material_code, "sha256": f.sha256, "size": f.size,
                 "media_type": f.media_type}
        if entry not in scans:
            scans.append(entry)
    body: dict[str, Any] = {"item_code": item.code, "applicant": applicant_from_form(values),
                            "form": form_from_form(item, values),
                            "delivery": values.get("delivery", "window")[:20]}
    uploaded = [str(s["code"]) for s in scans]
    actor = (f"window_operator:{claims.username}" if claims.role == "window_operator"
             else f"agent:{claims.username}")
    hub = services()

    def write(session: Session, now: datetime) -> dict[str, Any]:
        problems = dict(errors)
        ticket = None
        if calling is not None:
            try:
                ticket = queue.called_ticket(session, calling.window, calling.ticket, now)
            except NotFound as exc:
                problems.update(exc.fields)
        passed = None
        try:
            passed = check_walk_in(body, now, uploaded)
        except Problems as exc:
            problems.update(exc.fields)
        if problems or passed is None:
            raise Problems(problems, "the application is not complete or not valid")
        checked, reuse = passed
        for f in files:
            hub.blobs.put(f.data)
        walk_in = write_walk_in(session, checked, body["delivery"], actor, now, reuse=reuse,
                                scans=scans)
        if ticket is not None:
            queue.link_ticket(ticket, walk_in.case_id)
        return {**walk_in.as_dict(), "item_code": item.code, "window": checked.item.window,
                **({"ticket": calling.ticket, "calling_window": calling.window}
                   if calling else {})}

    fingerprint = {"desk": body, "scans": scans, **_ticket_args(calling)}
    try:
        answer_once(get_session(), _record_key(claims, key), fingerprint, write)
    except StateConflict:
        return _render(item, claims, calling, values=kept, errors={}, key=uuid.uuid4().hex,
                       kind=kind, status=409, problem=t("desk.used_key"))
    except DomainError as exc:
        return _render(item, claims, calling, values=kept, errors=exc.fields, key=key,
                       kind=kind, status=exc.http_status, problem=t("desk.fix"))
    return redirect(url_for(".done", token=key), 303)


@bp.get("/registered/<token>")
@require_user(*REGISTRARS)
def done(token: str) -> ResponseReturnValue:
    """The registration's result: the acceptance number and the query code to give the
    applicant (the page prints as the receipt), for the user who registered it; ``token``
    is the form's once-key."""
    claims = _registrar()
    if not _ONCE_KEY.fullmatch(token):
        abort(404)
    result = recorded_answer(get_session(), _record_key(claims, token))
    if result is None:
        abort(404)
    catalogue = services().catalogue
    try:
        item: ServiceItem | None = catalogue.item(result["item_code"])
    except NotFound:
        item = None
    return render_template("desk/done.html", me=claims, result=result, item=item)
