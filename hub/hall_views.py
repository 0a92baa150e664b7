"""The city hall's pages: for citizens (no login) the hall's home, booking a time at a
window or a village station, cancelling it, the kiosk that gives a queue ticket (or checks a
booking in) and the ticket's own page (printable on an 80 mm roll, and followed on a phone);
for the staff the calling page of a window (叫号), which opens the registration of the ticket
being served (:mod:`hub.desk_views`), and the list of a window's or station's bookings.
Plain HTML with a little inline CSS and no script, for 64 kbit/s links; every
form carries the session's CSRF token; the public writes are limited as the API's are
(:mod:`hub.hall_site`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from hub import hall_queue as queue
from hub import hall_site
from hub.db_session import get_session
from hub.desk_views import REGISTRARS, registrable
from hub.hall_models import HubHallBooking, HubHallTicket
from hub.hall_texts import MESSAGES
from hub.models import HubCase, HubSite
from hub.services import services
from shared.domain.catalogue import Catalogue
from shared.domain.errors import DomainError, NotFound
from shared.storage.accounts import Claims
from shared.web.i18n import add_messages, locale_name
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user
from shared.web.window_pages import ROLES

bp = Blueprint("hall", __name__, url_prefix="/hall")
bp.record_once(lambda state: add_messages(state.app, MESSAGES))
bp.after_request(no_store)

TICKET_REFRESH = 30
SCREEN_REFRESH = 5
CALL_ACTIONS = ("next", "recall", "no_show", "done")


def _window_name(catalogue: Catalogue, code: str) -> str:
    try:
        return catalogue.window(code).name.get(locale_name())
    except NotFound:
        return code


def _stations() -> list[HubSite]:
    return list(get_session().scalars(select(HubSite).where(HubSite.tier == "village")
                                      .order_by(HubSite.code).limit(500)))


def _problem(exc: DomainError) -> str:
    return exc.reason if not exc.field else f"{exc.field}: {exc.reason}"


@bp.get("")
def home() -> str:
    """The hall: its areas and windows, and where to book, cancel or take a ticket."""
    catalogue = services().catalogue
    return render_template("hall/home.html", areas=hall_site.areas(),
                           window_name=lambda code: _window_name(catalogue, code))


def _days(count: int) -> list[date]:
    hub = services()
    now = hub.clock()
    first = queue.today(now)
    config = hall_site.config()
    days = [first + timedelta(days=n) for n in range(config.days_ahead + 1)]
    return [d for d in days if queue.bookable_day(config, hub.calendar, d, now)][:count]


def _booking_page(problem: str | None = None, status: int = 200,
                  form: dict[str, str] | None = None) -> ResponseReturnValue:
    hub = services()
    catalogue = hub.catalogue
    values = form or {k: request.args.get(k, "")[:20] for k in ("target", "date")}
    target_code, day_text = values.get("target", ""), values.get("date", "")
    target, slots, day = None, [], None
    if target_code:
        try:
            target = queue.target_of(get_session(), hall_site.config(), hall_site.areas(),
                                     target_code)
            day = date.fromisoformat(day_text) if day_text else None
        except (DomainError, ValueError) as exc:
            problem = problem or (_problem(exc) if isinstance(exc, DomainError)
                                  else "date: a date as YYYY-MM-DD")
            status = 400 if status == 200 else status
    if target is not None and day is not None:
        slots = queue.slots(get_session(), hall_site.config(), hub.calendar, target, day,
                            hub.clock())
    html = render_template(
        "hall/book.html", areas=hall_site.areas(), stations=_stations(), target=target,
        day=day, days=_days(10) if target is not None else [], slots=slots, form=values,
        problem=problem, window_name=lambda code: _window_name(catalogue, code))
    return html, status


@bp.get("/book")
def book_form() -> ResponseReturnValue:
    """Pick a window or station, then a day, then a slot with places left."""
    return _booking_page()


@bp.post("/book")
def book() -> ResponseReturnValue:
    """Book the slot picked; the booking code on success, the form again with what is
    wrong otherwise (nothing booked)."""
    form = {k: request.form.get(k, "").strip()[:64] for k in
            ("target", "date", "time", "name", "phone", "item_code")}
    try:
        hall_site.spend("hall_booking", hall_site.BOOKING_LIMIT, request.remote_addr)
    except hall_site.Busy:
        return _booking_page(MESSAGES["hall.busy"][0], 429, form)
    hub = services()
    try:
        wanted = queue.BookingRequest(form["target"], queue.parse_slot(form["date"],
                                                                      form["time"]),
                                      form["name"], form["phone"], form["item_code"] or None)
        booking = hall_site.in_transaction(lambda session: queue.book(
            session, hall_site.config(), hall_site.areas(), hub.calendar, wanted,
            hub.clock()))
    except DomainError as exc:
        return _booking_page(_problem(exc), exc.http_status, form)
    place = _window_name(hub.catalogue, booking.target)
    hall_site.text_booking(booking, f"{booking.target} {place}")
    return render_template("hall/booked.html", booking=booking,
                           time=queue.local_time(booking.slot_ms), target_name=place)


@bp.get("/cancel")
def cancel_form() -> str:
    return render_template("hall/cancel.html", problem=None, done=None)


@bp.post("/cancel")
def cancel() -> ResponseReturnValue:
    """Cancel with the booking code and the phone (wrong pairs counted as wrong lookups)."""
    if hall_site.code_blocked(request.remote_addr) is not None:
        return render_template("hall/cancel.html", problem=MESSAGES["hall.busy"][0],
                               done=None), 429
    code, phone = request.form.get("code", "")[:12], request.form.get("phone", "")[:20]
    try:
        done = hall_site.in_transaction(
            lambda session: queue.cancel(session, code, phone, services().clock()))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            hall_site.wrong_code(request.remote_addr)
        return render_template("hall/cancel.html", problem=_problem(exc),
                               done=None), exc.http_status
    return render_template("hall/cancel.html", problem=None, done=done)


@bp.get("/kiosk")
def kiosk() -> str:
    """The kiosk (or a phone): a button per area, and the check-in of a booking."""
    return render_template("hall/kiosk.html", areas=hall_site.areas(), problem=None)


@bp.post("/kiosk")
def take() -> ResponseReturnValue:
    """A ticket for the area pressed (or the booking checked in): its page (303)."""
    try:
        hall_site.spend("hall_ticket", hall_site.TICKET_LIMIT, request.remote_addr)
    except hall_site.Busy:
        return render_template("hall/kiosk.html", areas=hall_site.areas(),
                               problem=MESSAGES["hall.busy"][0]), 429
    now, areas = services().clock(), hall_site.areas()
    code = request.form.get("booking_code", "").strip()[:12]
    try:
        if code:
            phone = request.form.get("phone", "")[:20]
            if hall_site.code_blocked(request.remote_addr) is not None:
                return render_template("hall/kiosk.html", areas=areas,
                                       problem=MESSAGES["hall.busy"][0]), 429
            ticket = hall_site.in_transaction(
                lambda session: queue.check_in(session, areas, code, phone, now))
        else:
            area = request.form.get("area", "")[:4]
            ticket = hall_site.in_transaction(
                lambda session: queue.take_ticket(areas, session, area, now))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            hall_site.wrong_code(request.remote_addr)
        return render_template("hall/kiosk.html", areas=areas,
                               problem=_problem(exc)), exc.http_status
    return redirect(url_for(".ticket", token=ticket.token), 303)


@bp.get("/t/<token>")
def ticket(token: str) -> ResponseReturnValue:
    """A ticket: its number and area, how many wait ahead, the window once called;
    refreshes itself, and prints on an 80 mm roll."""
    session = get_session()
    found = session.scalar(select(HubHallTicket).where(HubHallTicket.token == token[:24]))
    if found is None:
        return render_template("hall/kiosk.html", areas=hall_site.areas(),
                               problem="ticket: not found"), 404
    area = next((a for a in hall_site.areas() if a.code == found.area), None)
    return render_template("hall/ticket.html", ticket=found, area=area,
                           ahead=queue.waiting_ahead(session, found),
                           taken=queue.local_time(found.taken_ms), refresh=TICKET_REFRESH)


@bp.get("/screen")
def screen() -> str:
    """The hall's calling screen (叫号屏): the tickets called last, each with its window, and
    the counts waiting per area; it reloads itself every few seconds (no script) and shows
    no name."""
    figures = queue.board(get_session(), hall_site.areas(), services().clock())
    return render_template("hall/screen.html", hall=figures, refresh=SCREEN_REFRESH)


def _call_page(window: str, problem: str | None = None, status: int = 200,
               notice: str | None = None) -> ResponseReturnValue:
    claims = signed_in()
    area = hall_site.calling_window(claims, window)
    session, now = get_session(), services().clock()
    held = queue.current(session, window, now)
    waiting = dict((a.code, n) for a, n in queue.board(session, [area], now).waiting)
    booking_item = None
    if held is not None and held.booking_id is not None:
        booking = session.get(HubHallBooking, held.booking_id)
        booking_item = booking.item_code if booking else None
    linked_no = None
    if held is not None and held.case_id is not None:
        linked_no = session.scalar(select(HubCase.acceptance_no).where(
            HubCase.case_id == held.case_id))
    catalogue = services().catalogue
    items = [i for i in catalogue.items if i.window == window][:50]
    html = render_template(
        "hall/call.html", window=window, window_name=_window_name(catalogue, window),
        area=area, current=held, waiting=waiting.get(area.code, 0), me=claims,
        problem=problem, notice=notice, booking_item=booking_item, items=items,
        linked_no=linked_no, register_url=_register_url(claims, window, held, booking_item),
        called_at=queue.local_time(held.called_ms) if held else "",
        waited=(round(held.waited_ms / 60_000, 1) if held and held.waited_ms is not None
                else None),
        lang=locale_name())
    return html, status


def _register_url(claims: Claims, window: str, held: HubHallTicket | None,
                  booking_item: str | None) -> str | None:
    """Where the calling page opens the registration of the ticket served: the booked
    item's form (when the user may register it), else the pick of an item; None for a user
    who does not register (:mod:`hub.desk_views`)."""
    if held is None or claims.role not in REGISTRARS:
        return None
    args: dict[str, Any] = {"window": window, "ticket": held.label}
    if booking_item:
        try:
            item = services().catalogue.item(booking_item)
        except NotFound:
            item = None
        if item is not None and registrable(claims, item):
            return url_for("desk.form", item_code=item.code, **args)
    return url_for("desk.pick", **args)


@bp.get("/call/<window>")
@require_user(*ROLES)
def call_page(window: str) -> ResponseReturnValue:
    """A window's calling page: the ticket called now, the count waiting, and the buttons."""
    return _call_page(window)


@bp.post("/call/<window>")
@require_user(*ROLES)
def call(window: str) -> ResponseReturnValue:
    """Call the next ticket, call the current one again, or end it (done, no show); or
    record the acceptance number of a case registered elsewhere (the registration page
    opened from here links its ticket itself). Back to the page (303)."""
    claims = signed_in()
    hall_site.calling_window(claims, window)
    action = request.form.get("action", "")
    now = services().clock()
    try:
        if action == "next":
            hall_site.in_transaction(lambda session: queue.call_next(
                session, hall_site.config(), hall_site.areas(), window, claims.username, now))
        elif action in CALL_ACTIONS:
            hall_site.in_transaction(lambda session: queue.finish(session, window, action, now))
        elif action == "link":
            hall_site.in_transaction(lambda session: queue.link_case(
                session, window, request.form.get("ticket", "")[:8],
                request.form.get("acceptance_no", "")[:40], now))
        else:
            return _call_page(window, "action: unknown", 400)
    except DomainError as exc:
        return _call_page(window, _problem(exc), exc.http_status)
    return redirect(url_for(".call_page", window=window), 303)


@bp.get("/bookings")
@require_user(*hall_site.HUB_ROLES)
def bookings() -> ResponseReturnValue:
    """A window's or station's bookings of a day (the signed-in user's own by default)."""
    claims = signed_in()
    target = (request.args.get("target") or claims.window or claims.site)[:20]
    try:
        day = date.fromisoformat(request.args.get("date", "")[:10])
    except ValueError:
        day = queue.today(services().clock())
    hall_site.may_read_bookings(claims, target)
    found = queue.bookings_of(get_session(), target, day)
    rows: list[dict[str, Any]] = [{"b": b, "time": queue.local_time(b.slot_ms),
                                   "who": hall_site.personal_of(b)} for b in found]
    return render_template("hall/bookings.html", target=target, day=day, rows=rows, me=claims)
