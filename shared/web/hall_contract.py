"""The city hall's API shapes for the OpenAPI document (:mod:`shared.web.openapi` merges
them into its contract): bookings, queue tickets and a window's calls (``hub/hall_api.py``;
only the hub serves them)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
STR: JSON = {"type": "string"}
NSTR: JSON = {"type": ["string", "null"]}
INT: JSON = {"type": "integer"}


def _obj(needed: list[str], **props: JSON) -> JSON:
    return {"type": "object", "required": needed, "properties": props}


BOOKING = _obj(["code", "target", "kind", "date", "time", "state"], code=STR, target=STR,
               kind=STR, date=STR, time=STR, item_code=NSTR, state=STR, name=STR, phone=STR)
TICKET = _obj(["label", "area", "state"], label=STR, area=STR, state=STR, window=NSTR,
              taken_at=STR, called_at=NSTR, recalls=INT, token=STR, waiting_ahead=INT,
              waited_minutes={"type": ["number", "null"]}, case_id=NSTR,
              booking={"type": "boolean"})
NTICKET: JSON = {"anyOf": [{"type": "null"}, TICKET]}

HALL_CONTRACT: dict[tuple[str, str], tuple[str, JSON | None, int, JSON]] = {
    ("/api/v1/hall/areas", "get"): (
        "The hall's service areas and the windows calling from each (no login)", None, 200,
        _obj(["areas"], areas={"type": "array", "items": _obj(
            ["code", "name", "windows"], code=STR, name=STR,
            windows={"type": "array", "items": STR})})),
    ("/api/v1/hall/slots", "get"): (
        "?target=&date=: a window's or village station's slots of a working day, with the "
        "places free (no login)", None, 200,
        _obj(["target", "kind", "date", "slots"], target=STR, kind=STR, date=STR,
             slots={"type": "array", "items": _obj(["time", "start", "capacity", "free"],
                                                   time=STR, start=STR, capacity=INT,
                                                   free=INT)})),
    ("/api/v1/hall/bookings", "post"): (
        "Book a place in a slot (no login, limited per address); 409 when it is full or the "
        "phone holds enough bookings",
        _obj(["target", "date", "time", "name", "phone"], target=STR, date=STR, time=STR,
             name=STR, phone=STR, item_code=STR), 201, BOOKING),
    ("/api/v1/hall/bookings", "get"): (
        "?target=&date=: the bookings of a window or station, with names and phones (its "
        "staff)", None, 200,
        _obj(["target", "date", "bookings"], target=STR, date=STR,
             bookings={"type": "array", "items": BOOKING})),
    ("/api/v1/hall/bookings/<code>/cancel", "post"): (
        "Cancel a booking with its code and phone (no login; wrong pairs counted)",
        _obj(["phone"], phone=STR), 200, BOOKING),
    ("/api/v1/hall/tickets", "post"): (
        "A queue ticket for an area, or a booking of today checked in (no login, limited per "
        "address)", _obj([], area=STR, booking_code=STR, phone=STR), 201, TICKET),
    ("/api/v1/hall/tickets/<token>", "get"): (
        "A ticket by the token of its link: its state and how many wait ahead", None, 200,
        TICKET),
    ("/api/v1/hall/station-bookings", "get"): (
        "?date= (&through= for a range of days): a village station's bookings, for its "
        "agent (at a node: asked up to the hub that keeps them; the link down, from the "
        "station's copy, answered_by \"copy\", else 503) or, with ?station=, the hub's staff",
        None, 200, _obj(["station", "date", "bookings", "answered_by", "as_of"], station=STR,
                        date=STR, through=STR, answered_by=STR, as_of=STR,
                        bookings={"type": "array", "items": _obj(
                            ["code", "time", "name", "phone", "state"], code=STR, date=STR,
                            time=STR, name=STR, phone=STR, item_code=NSTR, state=STR)})),
    ("/api/v1/hall/windows/<code>", "get"): (
        "A window's ticket called now and the count waiting in its area (its operators)",
        None, 200, _obj(["window", "area", "waiting", "current"], window=STR, area=STR,
                        waiting=INT, current=NTICKET)),
    ("/api/v1/hall/windows/<code>/call", "post"): (
        "next (finish the current ticket, call the next: a booking due now first), recall, "
        "no_show or done", _obj(["action"], action={"enum": ["next", "recall", "no_show",
                                                             "done"]}),
        200, _obj(["ticket"], ticket=NTICKET)),
    ("/api/v1/hall/windows/<code>/case", "post"): (
        "Record the case a ticket of today led to (its acceptance number)",
        _obj(["ticket", "acceptance_no"], ticket=STR, acceptance_no=STR), 200,
        _obj(["ticket"], ticket=TICKET)),
}
