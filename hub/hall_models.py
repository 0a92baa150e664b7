"""The city hall's tables (政务大厅): bookings (网上预约) and queue tickets (排队取号).

Times are epoch milliseconds (UTC) like every hub table; a day is the Shanghai date as
``YYYY-MM-DD``. How many places of a slot are taken, and the last ticket number of an area's
day, are counters in ``sync_state`` (:func:`shared.storage.sync_store.next_counter`), whose
upsert serialises two requests for the last place on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import HubCase
from shared.storage.db import Base

BOOKING_STATES = ("booked", "cancelled", "checked_in", "called", "no_show", "done")
TICKET_STATES = ("waiting", "called", "no_show", "done")


class HubHallBooking(Base):
    """A place in one slot at a city window or at a village station (``target_kind``
    ``window`` or ``station``); the applicant cancels it with its ``code`` and phone."""

    __tablename__ = "hub_hall_bookings"
    __table_args__ = (Index("ix_hub_hall_bookings_target", "target", "day", "slot_ms"),
                      Index("ix_hub_hall_bookings_phone", "phone", "state"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(20))
    day: Mapped[str] = mapped_column(String(10))
    slot_ms: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(11))
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


HubCase.hall_ticket_model = HubHallTicket  # the period reports' waiting times
