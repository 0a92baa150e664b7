"""What the city hall does with bookings and tickets, apart from the web: slots and their
free places, booking and cancelling, taking a ticket (or checking a booking in), and a
window calling the next ticket. Nothing is committed here; the views commit or roll back
the whole request.

The calling order (叫号): a window's ``call next`` first takes a checked-in booking of that
window whose slot is due now (from ``due_minutes`` before its start to as many after),
earliest slot first; else the oldest waiting ticket of the window's area (first come, first
served), leaving out bookings whose time has not yet come and bookings of another window
still inside their own time. A ticket's waiting time is recorded when it is first called:
from the slot's start for a booking, else from the moment it was taken.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.hall_config import Area, HallConfig, area_of_window
from hub.hall_models import (
    HubHallBooking,
    HubHallTicket,
    phone_index,
    phone_indexes,
    seal_personal,
)
from hub.models import HubCase, HubSite
from shared.domain.errors import CalendarMissing, InvalidInput, NotFound, StateConflict
from shared.domain.identity import validate_name, validate_phone
from shared.domain.working_days import SHANGHAI, WorkingDayCalendar
from shared.storage import sync_store
from shared.storage.sealing import DataKeys
from shared.storage.sync_store import SyncState
from sync_protocol.times import from_ms, to_ms

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CALL_TRIES = 10
"""How many candidates ``call next`` tries when other windows take them first."""
KEEP_PERSONAL_DAYS = 30
"""How long after its day a booking keeps the name and phone (the staff's list, a dispute);
then the background erasure blanks them, keeping the booking's slot and outcome."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a booking is for: a city window (in an area) or a village station."""

    kind: str
    code: str
    capacity: int
    area: str | None


@dataclass(frozen=True, slots=True)
class Slot:
    """One slot of a day at a target, with its places."""

    start: datetime
    capacity: int
    taken: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)

    @property
    def label(self) -> str:
        return self.start.astimezone(SHANGHAI).strftime("%H:%M")


def new_code(length: int = CODE_LENGTH) -> str:
    """A random code without look-alike characters (0/O, 1/I/L)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def target_of(session: Session, config: HallConfig, areas: Sequence[Area],
              code: str) -> Target:
    """The window (of an area) or village station ``code``; :class:`InvalidInput` else."""
    area = area_of_window(areas, code)
    if area is not None:
        return Target("window", code, config.window_capacity, area.code)
    site = session.get(HubSite, code)
    if site is not None and site.tier == "village":
        return Target("station", code, config.station_capacity, None)
    raise InvalidInput("target", f"{code} is neither a window of the hall nor a village "
                                 "station")


def _slot_key(target: str, start_ms: int) -> str:
    return f"hall-slot:{target}:{start_ms}"


def slots(session: Session, config: HallConfig, calendar: WorkingDayCalendar,
          target: Target, day: date, now: datetime) -> list[Slot]:
    """The slots of ``day`` still ahead of ``now`` (none on a day off, in the past or
    beyond ``days_ahead``)."""
    if not bookable_day(config, calendar, day, now):
        return []
    starts = [datetime.combine(day, t, SHANGHAI) for t in config.slot_starts()]
    starts = [s for s in starts if s > now]
    keys = {f"counter:{_slot_key(target.code, to_ms(s))}": s for s in starts}
    taken = {key: count for key, count in session.execute(
        select(SyncState.key, SyncState.counter).where(SyncState.key.in_(list(keys))))}
    return [Slot(s, target.capacity, int(taken.get(k, 0))) for k, s in keys.items()]


def bookable_day(config: HallConfig, calendar: WorkingDayCalendar, day: date,
                 now: datetime) -> bool:
    """Whether ``day`` is a working day from today to ``days_ahead`` days on."""
    first = today(now)
    if not first <= day <= first + timedelta(days=config.days_ahead):
        return False
    try:
        return calendar.is_working_day(day)
    except CalendarMissing:  # a year the calendar does not hold: no slots, not a guess
        return False


@dataclass(frozen=True, slots=True)
class BookingRequest:
    target: str
    start: datetime
    name: str
    phone: str
    item_code: str | None = None


def _hub_keys(keys: DataKeys | None) -> DataKeys:
    if keys is not None:
        return keys
    from hub.services import services  # the running hub's keys (in an app context)

    return services().data_keys


def book(session: Session, config: HallConfig, areas: Sequence[Area],
         calendar: WorkingDayCalendar, wanted: BookingRequest, now: datetime,
         keys: DataKeys | None = None) -> HubHallBooking:
    """Take one place of a slot; :class:`StateConflict` when the slot is full (the caller
    rolls back, which gives the place back), :class:`InvalidInput` naming a bad field.
    The name and phone are sealed with ``keys`` (the running hub's by default)."""
    keys = _hub_keys(keys)
    name = validate_name(wanted.name, "name")
    phone = validate_phone(wanted.phone, "phone")
    target = target_of(session, config, areas, wanted.target)
    start = wanted.start.astimezone(SHANGHAI)
    if start.time() not in config.slot_starts():
        raise InvalidInput("slot", "not the start of one of the day's slots")
    if start <= now:
        raise InvalidInput("slot", "this time has passed")
    if not bookable_day(config, calendar, start.date(), now):
        raise InvalidInput("slot", f"bookings are taken for working days up to "
                                   f"{config.days_ahead} days ahead")
    held = session.scalar(select(func.count()).select_from(HubHallBooking).where(
        HubHallBooking.phone_index.in_(phone_indexes(keys, phone)),
        HubHallBooking.state == "booked",
        HubHallBooking.slot_ms > to_ms(now)))
    if int(held or 0) >= config.bookings_per_phone:
        raise StateConflict("phone", f"this phone number holds {config.bookings_per_phone} "
                                     "bookings already: cancel one first")
    start_ms = to_ms(start)
    taken = sync_store.next_counter(session, _slot_key(target.code, start_ms))
    if taken > target.capacity:
        raise StateConflict("slot", f"this time is fully booked ({target.capacity} places): "
                                    "pick another time")
    booking = HubHallBooking(
        code=new_code(), target_kind=target.kind, target=target.code,
        day=start.date().isoformat(), slot_ms=start_ms, phone_index=phone_index(keys, phone),
        item_code=wanted.item_code, state="booked", created_ms=to_ms(now))
    session.add(booking)
    session.flush()  # the id the sealed name and phone are bound to
    booking.personal = seal_personal(keys, booking.id, name, phone)
    session.flush()
    return booking


def _booking(session: Session, keys: DataKeys | None, code: str, phone: str
             ) -> HubHallBooking:
    b = HubHallBooking
    found = session.scalar(select(b).where(
        b.code == code.strip().upper(),
        b.phone_index.in_(phone_indexes(_hub_keys(keys), phone))).with_for_update())
    if found is None:
        raise NotFound("code", "no booking with this code and phone number")
    return found


def cancel(session: Session, code: str, phone: object, now: datetime,
           keys: DataKeys | None = None) -> HubHallBooking:
    """Cancel a booking that has not begun, giving its place back."""
    booking = _booking(session, keys, code, validate_phone(phone, "phone"))
    if booking.state != "booked":
        raise StateConflict("code", f"this booking is {booking.state} and cannot be cancelled")
    booking.state = "cancelled"
    booking.cancelled_ms = to_ms(now)
    sync_store.next_counter(session, _slot_key(booking.target, booking.slot_ms), step=-1)
    return booking


def _take(session: Session, area: str, now: datetime, **extra: object) -> HubHallTicket:
    day = today(now).isoformat()
    number = sync_store.next_counter(session, f"hall-ticket:{area}:{day}")
    ticket = HubHallTicket(token=new_code(16), area=area, day=day, number=number,
                           label=f"{area}{number:03d}", taken_ms=to_ms(now), state="waiting",
                           recalls=0, **extra)
    session.add(ticket)
    session.flush()
    return ticket


def take_ticket(areas: Sequence[Area], session: Session, area_code: str,
                now: datetime) -> HubHallTicket:
    """A walk-in's ticket for ``area_code``."""
    if area_code not in {a.code for a in areas}:
        raise InvalidInput("area", f"no service area {area_code!r}")
    return _take(session, area_code, now)


def check_in(session: Session, areas: Sequence[Area], code: str, phone: object,
             now: datetime, keys: DataKeys | None = None) -> HubHallTicket:
    """The ticket of a booking for today at a city window (the same ticket again when
    it was checked in already)."""
    booking = _booking(session, keys, code, validate_phone(phone, "phone"))
    if booking.target_kind != "window":
        raise InvalidInput("code", "this booking is for a village station, not the hall")
    if booking.day != today(now).isoformat():
        raise InvalidInput("code", f"this booking is for {booking.day}")
    held = session.scalar(select(HubHallTicket).where(HubHallTicket.booking_id == booking.id))
    if held is not None:
        return held
    if booking.state != "booked":
        raise StateConflict("code", f"this booking is {booking.state}")
    area = area_of_window(areas, booking.target)
    if area is None:
        raise StateConflict("code", f"window {booking.target} calls from no area now")
    booking.state = "checked_in"
    return _take(session, area.code, now, booking_id=booking.id, due_ms=booking.slot_ms,
                 wanted_window=booking.target)


def current(session: Session, window: str, now: datetime) -> HubHallTicket | None:
    """The ticket the window has called and not finished today."""
    t = HubHallTicket
    return session.scalar(select(t).where(t.window == window, t.state == "called",
                                          t.day == today(now).isoformat())
                          .order_by(t.called_ms.desc()).limit(1))


def _candidates(session: Session, area: str, window: str, due_ms: int, now: datetime,
                ) -> list[int]:
    t = HubHallTicket
    now_ms = to_ms(now)
    waiting = (t.area == area, t.day == today(now).isoformat(), t.state == "waiting")
    booked = list(session.scalars(
        select(t.id).where(*waiting, t.wanted_window == window,
                           t.due_ms <= now_ms + due_ms, t.due_ms >= now_ms - due_ms)
        .order_by(t.due_ms, t.id).limit(CALL_TRIES)))
    others = (t.due_ms.is_(None)) | (
        (t.due_ms <= now_ms + due_ms)
        & ((t.wanted_window == window) | (t.due_ms < now_ms - due_ms)))
    walk_ins = list(session.scalars(select(t.id).where(*waiting, others)
                                    .order_by(t.taken_ms, t.id).limit(CALL_TRIES)))
    return booked + [i for i in walk_ins if i not in booked]


def call_next(session: Session, config: HallConfig, areas: Sequence[Area], window: str,
              caller: str, now: datetime) -> HubHallTicket | None:
    """Finish the window's current ticket and call the next (None: nobody waits)."""
    area = area_of_window(areas, window)
    if area is None:
        raise InvalidInput("window", f"window {window} calls from no service area")
    held = current(session, window, now)
    if held is not None:
        held.state, held.finished_ms = "done", to_ms(now)
    now_ms = to_ms(now)
    t = HubHallTicket
    for ticket_id in _candidates(session, area.code, window, config.due_minutes * 60_000, now):
        claimed = session.execute(
            update(t).where(t.id == ticket_id, t.state == "waiting")
            .values(state="called", window=window, called_by=caller, called_ms=now_ms,
                    last_call_ms=now_ms)).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue  # another window called it first
        ticket = session.get_one(t, ticket_id)
        session.refresh(ticket)
        start = ticket.due_ms if ticket.due_ms is not None else ticket.taken_ms
        ticket.waited_ms = max(0, now_ms - start)
        if ticket.booking_id is not None:
            booking = session.get(HubHallBooking, ticket.booking_id)
            if booking is not None:
                booking.state = "called"
        return ticket
    return None


def finish(session: Session, window: str, outcome: str, now: datetime) -> HubHallTicket:
    """``recall`` the window's current ticket (once more on the board), or end it as
    ``done`` or ``no_show``."""
    ticket = current(session, window, now)
    if ticket is None:
        raise StateConflict("action", "this window has no ticket called")
    now_ms = to_ms(now)
    if outcome == "recall":
        ticket.recalls += 1
        ticket.last_call_ms = now_ms
        return ticket
    ticket.state, ticket.finished_ms = outcome, now_ms
    if ticket.booking_id is not None:
        booking = session.get(HubHallBooking, ticket.booking_id)
        if booking is not None:
            booking.state = outcome
    return ticket


def called_ticket(session: Session, window: str, ticket_label: str,
                  now: datetime) -> HubHallTicket:
    """The ticket ``ticket_label`` the window called today; :class:`NotFound` naming
    ``ticket`` else."""
    t = HubHallTicket
    ticket = session.scalar(select(t).where(t.window == window, t.label == ticket_label,
                                            t.day == today(now).isoformat()))
    if ticket is None:
        raise NotFound("ticket", f"no ticket {ticket_label} called at {window} today")
    return ticket


def link_case(session: Session, window: str, ticket_label: str, acceptance_no: str,
              now: datetime) -> HubHallTicket:
    """Record that the window's ticket of today led to the case ``acceptance_no`` (a case
    registered elsewhere: the desk's page links the ticket it was opened for itself)."""
    ticket = called_ticket(session, window, ticket_label, now)
    case_id = session.scalar(select(HubCase.case_id).where(
        HubCase.acceptance_no == acceptance_no.strip()))
    if case_id is None:
        raise NotFound("acceptance_no", "no case with this acceptance number")
    return link_ticket(ticket, case_id)


def link_ticket(ticket: HubHallTicket, case_id: uuid.UUID) -> HubHallTicket:
    """Record that ``ticket`` led to the case ``case_id`` (in the caller's transaction)."""
    ticket.case_id = case_id
    return ticket


def waiting_ahead(session: Session, ticket: HubHallTicket) -> int:
    """How many tickets of the area were taken before this one and still wait."""
    t = HubHallTicket
    return int(session.scalar(select(func.count()).select_from(t).where(
        t.area == ticket.area, t.day == ticket.day, t.state == "waiting",
        t.taken_ms <= ticket.taken_ms, t.id < ticket.id)) or 0)


@dataclass(frozen=True, slots=True)
class HallBoard:
    """The hall's part of the board: the last ticket each window called, and how many
    wait in each area (no name, no phone)."""

    called: list[tuple[str, str, int]]
    """(window, ticket label, times called) of today, the latest call first."""
    waiting: list[tuple[Area, int]]


def board(session: Session, areas: Sequence[Area], now: datetime) -> HallBoard:
    """Today's hall figures for the board."""
    t = HubHallTicket
    day = today(now).isoformat()
    waiting = {area: count for area, count in session.execute(
        select(t.area, func.count()).where(t.day == day, t.state == "waiting")
        .group_by(t.area))}
    latest = (select(t.window, func.max(t.last_call_ms).label("at"))
              .where(t.day == day, t.window.is_not(None)).group_by(t.window).subquery())
    called = session.execute(
        select(t.window, t.label, t.recalls, t.last_call_ms)
        .join(latest, (t.window == latest.c.window) & (t.last_call_ms == latest.c.at))
        .where(t.day == day).order_by(t.last_call_ms.desc())).all()
    return HallBoard(called=[(w or "", label, 1 + recalls) for w, label, recalls, _ in called],
                     waiting=[(a, int(waiting.get(a.code, 0))) for a in areas])


def bookings_of(session: Session, target: str, day: date) -> list[HubHallBooking]:
    """The bookings of ``target`` on ``day``, by slot (cancelled ones too, marked)."""
    b = HubHallBooking
    return list(session.scalars(select(b).where(b.target == target, b.day == day.isoformat())
                                .order_by(b.slot_ms, b.id)))


def local_time(ms: int | None) -> str:
    """``HH:MM`` in Shanghai, or an empty string."""
    return from_ms(ms).astimezone(SHANGHAI).strftime("%H:%M") if ms is not None else ""


def parse_slot(day: str, at: str) -> datetime:
    """The slot start ``day`` (``YYYY-MM-DD``) ``at`` (``HH:MM``) in Shanghai."""
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(at), SHANGHAI)
    except ValueError:
        raise InvalidInput("slot", "a date as YYYY-MM-DD and a time as HH:MM") from None


def forget_past_bookings(session: Session, now: datetime) -> int:
    """Delete the sealed name and phone, and the phone's index, of bookings whose day is
    :data:`KEEP_PERSONAL_DAYS` past (not committed); how many were blanked."""
    cutoff = (today(now) - timedelta(days=KEEP_PERSONAL_DAYS)).isoformat()
    b = HubHallBooking
    done = session.execute(update(b).where(
        b.day < cutoff, b.personal.is_not(None) | b.phone_index.is_not(None))
        .values(personal=None, phone_index=None))
    return int(done.rowcount)  # type: ignore[attr-defined]

