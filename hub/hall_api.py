"""The city hall's JSON API (``/api/v1/hall/...``): areas and free slots, bookings and their
cancelling, queue tickets, and a window's calls. See docs/hall.md for the rules and
:mod:`hub.hall_queue` for what each call does.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from hub import hall_queue as queue
from hub import hall_site
from hub.db_session import get_session
from hub.front_desk import load_body
from hub.hall_models import HubHallBooking, HubHallTicket
from hub.services import services
from shared.domain.errors import InvalidInput, NotFound
from shared.web.error_responses import error_response
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user
from shared.web.window_pages import ROLES
from sync_protocol.times import from_ms

bp = Blueprint("hall_api", __name__, url_prefix="/api/v1/hall")
bp.after_request(no_store)

CALL_ACTIONS = ("next", "recall", "no_show", "done")


class BookingSchema(Schema):
    class Meta:
        unknown = RAISE

    target = fields.String(required=True, validate=validate.Length(min=1, max=20))
    date = fields.String(required=True, validate=validate.Length(equal=10))
    time = fields.String(required=True, validate=validate.Length(equal=5))
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    phone = fields.String(required=True, validate=validate.Length(min=1, max=20))
    item_code = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class PhoneSchema(Schema):
    class Meta:
        unknown = RAISE

    phone = fields.String(required=True, validate=validate.Length(min=1, max=20))


class TicketSchema(Schema):
    class Meta:
        unknown = RAISE

    area = fields.String(load_default=None, validate=validate.Length(min=1, max=4))
    booking_code = fields.String(load_default=None, validate=validate.Length(min=1, max=12))
    phone = fields.String(load_default=None, validate=validate.Length(min=1, max=20))


class CallSchema(Schema):
    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(CALL_ACTIONS))


class LinkSchema(Schema):
    class Meta:
        unknown = RAISE

    ticket = fields.String(required=True, validate=validate.Length(min=2, max=8))
    acceptance_no = fields.String(required=True, validate=validate.Length(min=1, max=40))


def _day(raw: str | None, field: str = "date") -> date:
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise InvalidInput(field, "a date as YYYY-MM-DD") from None


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).isoformat() if ms is not None else None


def booking_dict(b: HubHallBooking, *, personal: bool = False) -> dict[str, Any]:
    """A booking as the API gives it (the name and phone only to staff)."""
    body: dict[str, Any] = {"code": b.code, "target": b.target, "kind": b.target_kind,
                            "date": b.day, "time": queue.local_time(b.slot_ms),
                            "item_code": b.item_code, "state": b.state}
    if personal:
        found = hall_site.personal_of(b)
        body.update(name=found.name, phone=found.phone)
    return body


def ticket_dict(t: HubHallTicket) -> dict[str, Any]:
    return {"label": t.label, "area": t.area, "state": t.state, "window": t.window,
            "booking": t.booking_id is not None, "taken_at": _iso(t.taken_ms),
            "called_at": _iso(t.called_ms), "recalls": t.recalls,
            "waited_minutes": (round(t.waited_ms / 60_000, 1)
                               if t.waited_ms is not None else None),
            "case_id": str(t.case_id) if t.case_id else None}


def busy(exc: hall_site.Busy) -> Response:
    response = error_response(429, "too_many_requests", "too many requests: try again later",
                              {"client": f"wait {exc.retry_after} seconds"})
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.get("/areas")
def list_areas() -> Response:
    """The hall's service areas and the windows that call from each."""
    return jsonify({"areas": [{"code": a.code, "name": a.name, "windows": list(a.windows)}
                              for a in hall_site.areas()]})


@bp.get("/slots")
def list_slots() -> Response:
    """``?target=<window or station>&date=YYYY-MM-DD``: the day's slots and free places."""
    hub = services()
    session = get_session()
    target = queue.target_of(session, hall_site.config(), hall_site.areas(),
                             request.args.get("target", "")[:20])
    day = _day(request.args.get("date"))
    found = queue.slots(session, hall_site.config(), hub.calendar, target, day, hub.clock())
    return jsonify({"target": target.code, "kind": target.kind, "date": day.isoformat(),
                    "slots": [{"time": s.label, "start": s.start.isoformat(),
                               "capacity": s.capacity, "free": s.free} for s in found]})


@bp.post("/bookings")
def create_booking() -> Response | tuple[Response, int]:
    """Book a place (no login); 409 when the slot is full or the phone holds enough."""
    body = load_body(BookingSchema())
    try:
        hall_site.spend("hall_booking", hall_site.BOOKING_LIMIT, request.remote_addr)
    except hall_site.Busy as exc:
        return busy(exc)
    hub = services()
    wanted = queue.BookingRequest(body["target"], queue.parse_slot(body["date"], body["time"]),
                                  body["name"], body["phone"], body["item_code"])
    booking = hall_site.in_transaction(lambda session: queue.book(
        session, hall_site.config(), hall_site.areas(), hub.calendar, wanted, hub.clock()))
    hall_site.text_booking(booking, booking.target)
    return jsonify(booking_dict(booking)), 201


@bp.post("/bookings/<code>/cancel")
def cancel_booking(code: str) -> Response:
    """Cancel with the booking code and the phone booked with (wrong pairs are counted)."""
    body = load_body(PhoneSchema())
    wait = hall_site.code_blocked(request.remote_addr)
    if wait is not None:
        return busy(hall_site.Busy(wait))
    try:
        booking = hall_site.in_transaction(
            lambda session: queue.cancel(session, code[:12], body["phone"], services().clock()))
    except NotFound:
        hall_site.wrong_code(request.remote_addr)
        raise
    return jsonify(booking_dict(booking))


@bp.get("/bookings")
@require_user(*hall_site.HUB_ROLES)
def list_bookings() -> Response:
    """``?target=&date=``: a window's or a station's bookings of the day, with the names
    and phones, for its staff."""
    target = request.args.get("target", "")[:20]
    if not target:
        raise InvalidInput("target", "required")
    hall_site.may_read_bookings(signed_in(), target)
    day = _day(request.args.get("date"))
    found = queue.bookings_of(get_session(), target, day)
    return jsonify({"target": target, "date": day.isoformat(),
                    "bookings": [booking_dict(b, personal=True) for b in found]})


@bp.post("/tickets")
def take_ticket() -> Response | tuple[Response, int]:
    """A ticket for ``area`` (a walk-in), or for a booking of today (``booking_code`` and
    ``phone``: the check-in)."""
    body = load_body(TicketSchema())
    if (body["area"] is None) == (body["booking_code"] is None):
        raise InvalidInput("area", "give an area, or a booking_code with its phone")
    try:
        hall_site.spend("hall_ticket", hall_site.TICKET_LIMIT, request.remote_addr)
    except hall_site.Busy as exc:
        return busy(exc)
    now = services().clock()
    areas = hall_site.areas()
    if body["area"] is not None:
        ticket = hall_site.in_transaction(
            lambda session: queue.take_ticket(areas, session, body["area"], now))
    else:
        try:
            ticket = hall_site.in_transaction(lambda session: queue.check_in(
                session, areas, body["booking_code"], body["phone"], now))
        except NotFound:
            hall_site.wrong_code(request.remote_addr)
            raise
    ahead = queue.waiting_ahead(get_session(), ticket)
    return jsonify({**ticket_dict(ticket), "token": ticket.token, "waiting_ahead": ahead}), 201


@bp.get("/tickets/<token>")
def show_ticket(token: str) -> Response:
    """A ticket by the secret token printed in its link: where it stands now."""
    ticket = get_session().scalar(select(HubHallTicket).where(
        HubHallTicket.token == token[:24]))
    if ticket is None:
        return error_response(404, "not_found", "no such ticket", {"token": "unknown"})
    return jsonify({**ticket_dict(ticket),
                    "waiting_ahead": queue.waiting_ahead(get_session(), ticket)})


@bp.get("/windows/<code>")
@require_user(*ROLES)
def window_state(code: str) -> Response:
    """The window's ticket called now and how many wait in its area."""
    area = hall_site.calling_window(signed_in(), code)
    now = services().clock()
    session = get_session()
    held = queue.current(session, code, now)
    waiting = dict((a.code, n) for a, n in queue.board(session, [area], now).waiting)
    return jsonify({"window": code, "area": area.code, "waiting": waiting.get(area.code, 0),
                    "current": ticket_dict(held) if held else None})


@bp.post("/windows/<code>/call")
@require_user(*ROLES)
def call(code: str) -> Response:
    """``next`` (finish the current ticket and call the next), ``recall``, ``no_show`` or
    ``done``; answers the ticket concerned (null: nobody waits)."""
    body = load_body(CallSchema())
    claims = signed_in()
    hall_site.calling_window(claims, code)
    now = services().clock()
    if body["action"] == "next":
        ticket = hall_site.in_transaction(lambda session: queue.call_next(
            session, hall_site.config(), hall_site.areas(), code, claims.username, now))
    else:
        ticket = hall_site.in_transaction(
            lambda session: queue.finish(session, code, body["action"], now))
    return jsonify({"ticket": ticket_dict(ticket) if ticket else None})


@bp.post("/windows/<code>/case")
@require_user(*ROLES)
def link(code: str) -> Response:
    """Record which case the window registered for one of its tickets of today."""
    body = load_body(LinkSchema())
    hall_site.calling_window(signed_in(), code)
    ticket = hall_site.in_transaction(lambda session: queue.link_case(
        session, code, body["ticket"], body["acceptance_no"], services().clock()))
    return jsonify({"ticket": ticket_dict(ticket)})
