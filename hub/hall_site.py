"""What the hall's pages and API share: the configuration in force, the areas, who may
work a window's calls or read a target's bookings, and the limits on public requests.

Public requests that write (a booking, a ticket) are limited per client address, each one
counted in the store the status lookup's wrong guesses are counted in (every hub process
shares it): :data:`BOOKING_LIMIT` bookings an hour and :data:`TICKET_LIMIT` tickets in ten
minutes (the kiosk's own address takes every walk-in's ticket). A wrong booking code counts
as a wrong status lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from flask import current_app
from sqlalchemy.orm import Session

from hub.db_session import get_session
from hub.hall_config import Area, HallConfig, area_of_window
from hub.hall_config import load as load_config
from hub.hall_models import HubHallBooking, Personal, open_personal
from hub.hall_queue import HallBoard, board, local_time
from hub.services import services
from shared.domain.errors import NotFound, NotPermitted
from shared.notify.sms_gateway import GatewayError
from shared.storage.accounts import Claims
from shared.web.rate_limit import FailureLimiter, failure_counts_of
from shared.web.window_api import check_window

BOOKING_LIMIT = (10, 3600.0)
TICKET_LIMIT = (120, 600.0)
HUB_ROLES = ("window_operator", "finance", "supervisor", "admin", "department_head", "agent")
"""Who reads bookings at the hub (its front desk's agents included)."""

T = TypeVar("T")
LOG = logging.getLogger(__name__)


class Busy(Exception):
    """A client over its limit: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def config() -> HallConfig:
    return load_config(services().settings.data_dir)


def areas() -> tuple[Area, ...]:
    return config().areas_of(services().catalogue)


def spend(kind: str, limit: tuple[int, float], client: str | None) -> None:
    """Count one public write of ``kind`` from ``client``; :class:`Busy` when over."""
    limiter = FailureLimiter(limit[0], limit[1], counts=failure_counts_of(current_app),
                             kind=kind)
    now = services().clock().timestamp()
    key = client or "unknown"
    if limiter.blocked(key, now):
        raise Busy(limiter.retry_after(key, now))
    limiter.record_failure(key, now)


def wrong_code(client: str | None) -> None:
    """Count a wrong booking code like a wrong status lookup (and refuse when over)."""
    limiter = services().status_limiter
    now = services().clock().timestamp()
    key = client or "unknown"
    limiter.record_failure(key, now)


def code_blocked(client: str | None) -> int | None:
    limiter = services().status_limiter
    now = services().clock().timestamp()
    key = client or "unknown"
    return limiter.retry_after(key, now) if limiter.blocked(key, now) else None


def calling_window(claims: Claims, window: str) -> Area:
    """The area of a window the signed-in user may call for; refused otherwise."""
    if claims.site != services().settings.site_code:
        raise NotPermitted("site", "sign in at the city centre to call its tickets")
    check_window(claims, window, services().catalogue)
    area = area_of_window(areas(), window)
    if area is None:
        raise NotFound("window", f"window {window} calls from no service area of the hall")
    return area


def may_read_bookings(claims: Claims, target: str) -> None:
    """The hub's staff read the hall's bookings (a window-bound operator their own
    window's); a station's agent reads theirs at the station
    (:mod:`shared.web.hall_station_bookings`)."""
    if claims.site != services().settings.site_code:
        raise NotPermitted("site", "read your station's bookings at your station")
    if area_of_window(areas(), target) is not None:
        check_window(claims, target, services().catalogue)


def in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` and commit, or roll everything back when it raises."""
    session = get_session()
    try:
        result = work(session)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return result


def hall_board(session: Session, now: datetime) -> HallBoard:
    """The board's hall figures with the areas in force (the supervision board's hook)."""
    return board(session, areas(), now)


def personal_of(booking: HubHallBooking) -> Personal:
    """The booking's name and phone, opened with the hub's data keys (retired ones too)."""
    return open_personal(services().data_keys, booking)


def text_booking(booking: HubHallBooking, place: str) -> None:
    """Text the booking's code and time to its phone (after the commit: the booking stands
    and the page shows the code even when the gateway is down, which is only logged)."""
    hub = services()
    text = (f"【{hub.settings.site_name}】您已预约 {booking.day} {local_time(booking.slot_ms)} "
            f"{place}，预约码 {booking.code}，签到取号或取消预约时使用。")
    try:
        hub.sms.gateway.send(f"hall-booking-{booking.code}", personal_of(booking).phone, text)
    except GatewayError:
        LOG.warning("the booking's text was not sent", extra={"fields": {"code": booking.code}})
