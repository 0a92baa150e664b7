"""The city hall's tables (政务大厅): bookings (网上预约) and queue tickets (排队取号).

Times are epoch milliseconds (UTC) like every hub table; a day is the Shanghai date as
``YYYY-MM-DD``. How many places of a slot are taken, and the last ticket number of an area's
day, are counters in ``sync_state`` (:func:`shared.storage.sync_store.next_counter`), whose
upsert serialises two requests for the last place on PostgreSQL as on SQLite.

A booking's name and phone are sealed at rest together (``personal``: AES-GCM under a key
derived from the hub's data key for the purpose ``hall-booking``, bound to the booking's
id), and the phone is found by its blind index (``phone_index``: HMAC-SHA256 under a key
derived for ``hall-phone``, :mod:`shared.storage.id_index`), so the per-phone limit and a
check-in by code and phone are one indexed query without the number being kept.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.models import HubCase
from shared.storage.db import Base
from shared.storage.id_index import keyed_index, keyed_indexes
from shared.storage.sealing import DataKeys, SealedPayloads, is_sealed_payload

BOOKING_STATES = ("booked", "cancelled", "checked_in", "called", "no_show", "done")
TICKET_STATES = ("waiting", "called", "no_show", "done")


class HubHallBooking(Base):
    """A place in one slot at a city window or at a village station (``target_kind``
    ``window`` or ``station``); the applicant cancels it with its ``code`` and phone."""

    __tablename__ = "hub_hall_bookings"
    __table_args__ = (Index("ix_hub_hall_bookings_target", "target", "day", "slot_ms"),
                      Index("ix_hub_hall_bookings_phone", "phone_index", "state"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(20))
    day: Mapped[str] = mapped_column(String(10))
    slot_ms: Mapped[int] = mapped_column(BigInteger)
    personal: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The name and phone sealed together (:func:`seal_personal`); none once blanked."""
    phone_index: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The phone's blind index (:func:`phone_index`); none once blanked."""
    item_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(12))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    cancelled_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class HubHallTicket(Base):
    """A queue ticket of one service area's day (``label`` e.g. ``A001``), taken at the
    kiosk or on a phone, or by a booking's check-in (``booking_id``, ``due_ms`` its slot,
    ``wanted_window`` its window). ``waited_ms`` is recorded when it is first called:
    from the slot's start for a booking, else from when it was taken."""

    __tablename__ = "hub_hall_tickets"
    __table_args__ = (UniqueConstraint("area", "day", "number", name="uq_hub_hall_ticket"),
                      Index("ix_hub_hall_tickets_queue", "area", "day", "state"),
                      Index("ix_hub_hall_tickets_called", "called_ms"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(24), unique=True)
    area: Mapped[str] = mapped_column(String(4))
    day: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(8))
    taken_ms: Mapped[int] = mapped_column(BigInteger)
    booking_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    wanted_window: Mapped[str | None] = mapped_column(String(20), nullable=True)
    state: Mapped[str] = mapped_column(String(10))
    window: Mapped[str | None] = mapped_column(String(20), nullable=True)
    called_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    called_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_call_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recalls: Mapped[int] = mapped_column(Integer, default=0)
    waited_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


PHONE_PURPOSE = "hall-phone"


class SealedBookingDetails(SealedPayloads):
    """A booking's name and phone, sealed under the data key's ``hall-booking`` key (a
    value an earlier release kept in clear, JSON, still opens until it is sealed)."""

    _PURPOSE = "hall-booking"


@dataclass(frozen=True, slots=True)
class Personal:
    """What a booking keeps of the citizen (empty strings once blanked)."""

    name: str
    phone: str


def _context(booking_id: int) -> str:
    return f"hall-booking:{booking_id}"


def seal_personal(keys: DataKeys, booking_id: int, name: str, phone: str) -> bytes:
    """``name`` and ``phone`` sealed together, bound to the booking ``booking_id``."""
    return SealedBookingDetails(keys).seal({"name": name, "phone": phone}, _context(booking_id))


def open_personal(keys: DataKeys, booking: HubHallBooking) -> Personal:
    """The booking's name and phone (under whichever data key held sealed them)."""
    if booking.personal is None:
        return Personal("", "")
    found = SealedBookingDetails(keys).open(booking.personal, _context(booking.id))
    return Personal(str(found.get("name", "")), str(found.get("phone", "")))


def phone_index(keys: DataKeys, phone: str) -> str:
    """The blind index of a (validated) phone number under the current data key."""
    return keyed_index(keys, PHONE_PURPOSE, phone)


def phone_indexes(keys: DataKeys, phone: str) -> list[str]:
    """The blind index of ``phone`` under every data key held (current first)."""
    return keyed_indexes(keys, PHONE_PURPOSE, phone)


def clear_personal(name: str, phone: str) -> bytes:
    """The clear form an upgrade keeps until the hub starts and seals it."""
    return json.dumps({"name": name, "phone": phone}, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def seal_clear_bookings(session: Session, keys: DataKeys) -> int:
    """Seal the names and phones an upgrade (hub revision 0025) kept in clear, and index
    their phones (not committed; the hub's start-up); how many were sealed."""
    b = HubHallBooking
    sealer = SealedBookingDetails(keys)
    done = 0
    for booking in session.scalars(select(b).where(b.personal.is_not(None),
                                                   b.phone_index.is_(None))):
        stored = bytes(booking.personal or b"")
        if is_sealed_payload(stored):
            continue
        found = sealer.open(stored, "")  # clear JSON opens as it is
        name, phone = str(found.get("name", "")), str(found.get("phone", ""))
        booking.personal = seal_personal(keys, booking.id, name, phone)
        booking.phone_index = phone_index(keys, phone)
        done += 1
    session.flush()
    return done


HubCase.hall_ticket_model = HubHallTicket  # the period reports' waiting times
