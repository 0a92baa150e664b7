"""A village station's bookings (网上预约), read at the station from the hub that keeps them.

Citizens book a time at a village station on the city's site (:mod:`hub.hall_queue`); the
bookings live at the hub. ``GET /api/v1/hall/station-bookings?date=YYYY-MM-DD`` answers, at
every site, the bookings of one station for one day:

- at the hub, from its table, for the hub's signed-in staff (any ``?station=``) or for a
  station's agent vouched for by the chain of children that relayed the question (the
  signature scheme of the status lookup, :mod:`shared.exchange.lookup_relay`: each hop
  checks its child's signature and signs again; the hub believes the station the chain
  starts at);
- at a node by asking its parent (one request, up to the hub) for its own signed-in agent
  (the station is the node itself) or for a child's vouched-for agent.

``&through=YYYY-MM-DD`` asks for every day from ``date`` to ``through`` in one request (each
booking then names its ``date``; the hub answers to its last bookable day at most and says
which day it got to in ``through``). A village station keeps a copy of what it read for
itself (:mod:`node.hall_station`): each live read replaces the days it covered, and the
node's sync run reads today to the last bookable day. When the link up is down the station
answers from that copy (``answered_by: "copy"``, ``as_of`` the time it was read); a day it
holds no copy of is 503, and the page says the bookings cannot be read now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy.orm import Session

from shared.domain.working_days import local_date
from shared.exchange.lookup_relay import HEADER, relay_header, relayed_client
from shared.exchange.site import SyncSite
from shared.exchange.transport import TransportError, get_json
from shared.web.error_responses import error_response
from shared.web.i18n import Messages, add_messages, local_time
from shared.web.pages import no_store
from shared.web.sign_in import current_claims, require_user

API_PATH = "/api/v1/hall/station-bookings"
PARENT_TIMEOUT = (5.0, 15.0)
BOOKING_KEYS = ("code", "date", "time", "name", "phone", "item_code", "state")
MAX_RANGE_DAYS = 92
"""The most days after ``date`` one request may cover (a hall books 90 days ahead at most)."""
COPY = "copy"
"""``answered_by`` of an answer from the station's copy (the link up is down)."""
COPY_ASKER = "station:copy"
"""Who asks when the station refreshes its copy in the background (no agent is asking)."""
HUB_READERS = ("window_operator", "finance", "supervisor", "admin", "department_head",
               "agent")

MESSAGES: Messages = {
    "hallst.title": ("本站预约", "Bookings at this station"),
    "hallst.offline": ("现在无法从市中心读取预约（网络不通），请稍后再试。本站没有这一天的副本。",
                       "The bookings cannot be read from the city now (the link is down); "
                       "try later. The station holds no copy of this day."),
    "hallst.none": ("这一天没有预约", "No bookings on this day"),
    "hallst.time": ("时段", "Time"),
    "hallst.name": ("姓名", "Name"),
    "hallst.phone": ("手机号码", "Phone"),
    "hallst.item": ("事项", "Item"),
    "hallst.code": ("预约码", "Code"),
    "hallst.state": ("状态", "State"),
    "hallst.date": ("日期", "Date"),
    "hallst.show": ("查看", "Show"),
    "hallst.as_of": ("读取时间", "Read at"),
    "hallst.copy": ("网络不通：以下是本站 {time} 保存的副本，之后的预约和取消看不到。",
                    "Copy as of {time}, the link is down: bookings made or cancelled since "
                    "do not show."),
}


class StationBookingsSite(Protocol):
    """What a site brings: its sync identity and clock, its parent, the bookings it keeps
    (the hub: those of ``first`` to ``last`` and the last day it answers for) or None (a
    node, which asks its parent), and its copy (a village station: kept from each live
    answer, read back when the link is down)."""

    @property
    def sync_site(self) -> SyncSite: ...

    def clock(self) -> datetime: ...

    def parent(self) -> tuple[str, str | bool] | None: ...

    def bookings(self, session: Session, station: str, first: date, last: date
                 ) -> tuple[list[dict[str, Any]], date] | None: ...

    def keep(self, session: Session, station: str, first: date,
             answer: StationAnswer) -> None: ...

    def copy(self, session: Session, station: str, first: date, last: date
             ) -> StationAnswer | None: ...


@dataclass(frozen=True, slots=True)
class StationAnswer:
    """200 with the bookings, the parent's 4xx error as it gave it, or 503 (offline)."""

    status: int
    bookings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    answered_by: str = ""
    as_of: str = ""
    through: str = ""
    """The last day the bookings cover (the first one when empty)."""


def relay_pair(station: str, day: date, through: date | None = None) -> tuple[str, str]:
    """What a relay header signs in a status lookup's pair's place (so no other lookup's
    header can stand for this question; a range signs both its ends)."""
    days = day.isoformat() if through in (None, day) else f"{day}..{through}"
    return f"hall-bookings:{days}", f"station:{station}"


def _vouched_station(client: str) -> str | None:
    """The station a relayed chain starts at: ``…/<station>/agent:<username>`` (or
    ``…/<station>/station:copy``, the station refreshing its copy)."""
    parts = client.split("/")
    if len(parts) >= 2 and (parts[-1].startswith("agent:") or parts[-1] == COPY_ASKER):
        return parts[-2]
    return None


def station_bookings(site: StationBookingsSite, session: Session, station: str, day: date,
                     asker: str, through: date | None = None) -> StationAnswer:
    """The station's bookings of ``day`` (to ``through``): this site's own, its parent's
    answer (kept in the station's copy), or, the parent unreachable, the copy."""
    last = through or day
    found = site.bookings(session, station, day, last)
    if found is not None:
        return StationAnswer(200, found[0], answered_by=site.sync_site.code,
                             as_of=site.clock().isoformat(), through=found[1].isoformat())
    parent = site.parent()
    if parent is None:
        return StationAnswer(503)
    url, verify = parent
    what, whose = relay_pair(station, day, last)
    header = relay_header(site.sync_site.key, asker, what, whose, site.clock())
    params = {"station": station, "date": day.isoformat()}
    if last != day:
        params["through"] = last.isoformat()
    try:
        reply = get_json(url.rstrip("/") + API_PATH, params=params, headers={HEADER: header},
                         verify=verify, timeout=PARENT_TIMEOUT)
    except TransportError:
        return site.copy(session, station, day, last) or StationAnswer(503)
    body = reply.body
    if reply.status == 200 and isinstance(body, dict) and isinstance(body.get("bookings"),
                                                                     list):
        kept = [{k: b.get(k) for k in BOOKING_KEYS} for b in body["bookings"]
                if isinstance(b, dict)]
        for booking in kept:  # a parent answering one day names no day
            booking["date"] = booking["date"] or day.isoformat()
        answer = StationAnswer(200, kept, answered_by=str(body.get("answered_by", "")),
                               as_of=str(body.get("as_of", "")),
                               through=_covered(body.get("through"), day, last))
        site.keep(session, station, day, answer)
        return answer
    if 400 <= reply.status < 500 and isinstance(body, dict) and "error" in body:
        return StationAnswer(reply.status, error=body)
    return site.copy(session, station, day, last) or StationAnswer(503)


def _covered(through: object, day: date, last: date) -> str:
    """The last day a parent's answer covers: its ``through`` within what was asked, else
    the one day (a parent that reads one day at a time)."""
    try:
        got = date.fromisoformat(str(through))
    except ValueError:
        got = day
    return min(max(got, day), last).isoformat()


def station_bookings_blueprint(site_of: Callable[[], StationBookingsSite],
                               session_of: Callable[[], Session]) -> Blueprint:
    """The API (hub and nodes) and the station's page (nodes)."""
    bp = Blueprint("hall_station", __name__, template_folder="templates")
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    bp.after_request(no_store)

    def day_of(raw: str | None, site: StationBookingsSite) -> date | None:
        if not raw:
            return local_date(site.clock())
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            return None

    @bp.get(API_PATH)
    def bookings_api() -> Response:
        site, session = site_of(), session_of()
        day = day_of(request.args.get("date"), site)
        if day is None:
            return error_response(400, "invalid", "invalid query",
                                  {"date": "a date as YYYY-MM-DD"})
        asked_through = request.args.get("through")
        through = day_of(asked_through, site) if asked_through else day
        if through is None or not day <= through <= day + timedelta(days=MAX_RANGE_DAYS):
            return error_response(400, "invalid", "invalid query", {
                "through": f"a date as YYYY-MM-DD from date to {MAX_RANGE_DAYS} days on"})
        station = request.args.get("station", "")[:20]
        relay = request.headers.get(HEADER)
        asker: str | None = None
        if relay and station:
            what, whose = relay_pair(station, day, through)
            client = relayed_client(session, site.sync_site, relay, what, whose, site.clock())
            if client is not None and _vouched_station(client) == station:
                asker = client
        if asker is None:
            claims = current_claims()
            if claims is None:
                return error_response(401, "not_authenticated",
                                      "a valid bearer token is required")
            own = claims.site == site.sync_site.code
            if site.sync_site.is_root and own and claims.role in HUB_READERS and station:
                asker = f"{claims.role}:{claims.username}"
            elif own and claims.role == "agent" and station in ("", claims.site):
                station, asker = claims.site, f"agent:{claims.username}"
            else:
                return error_response(403, "not_permitted",
                                      "a station's agent reads their own station's bookings",
                                      {"station": "not yours"})
        answer = station_bookings(site, session, station, day, asker, through)
        if answer.status == 200:
            return jsonify({"station": station, "date": day.isoformat(),
                            "through": answer.through or day.isoformat(),
                            "bookings": answer.bookings, "answered_by": answer.answered_by,
                            "as_of": answer.as_of})
        if answer.error is not None:
            response = jsonify(answer.error)
            response.status_code = answer.status
            return response
        response = error_response(503, "unavailable",
                                  "the bookings cannot be read from the city now")
        response.headers["Retry-After"] = "60"
        return response

    @bp.get("/hall/station-bookings")
    @require_user("agent")
    def bookings_page() -> tuple[str, int]:
        site, session = site_of(), session_of()
        claims = current_claims()
        assert claims is not None  # require_user let the request in
        day = day_of(request.args.get("date"), site) or local_date(site.clock())
        answer = station_bookings(site, session, claims.site, day, f"agent:{claims.username}")
        copy_time = ""
        if answer.answered_by == COPY:
            copy_time = local_time(datetime.fromisoformat(answer.as_of))[11:16]
        page = render_template("hall/station_bookings.html", answer=answer, day=day,
                               station=claims.site, me=claims, copy_time=copy_time)
        return page, 200 if answer.status == 200 else answer.status

    return bp
