"""The node's side of a station's bookings (:mod:`shared.web.hall_station_bookings`): the
hub keeps them, so a node asks its parent (up to the hub), for its own agent and for those
of the villages below it.

A village station keeps a copy of its own bookings for when the link is down
(``node_station_booking_copies``): one row per day, the day's list (names, phones) sealed
with the data key under the station and the day. Every live answer replaces the days it
covered; after a sync run that reached the parent, :func:`refresh_copy` reads today to the
hall's last bookable day in one relayed request (at most every :data:`COPY_EVERY`). Offline
the station answers a day it holds from the copy (``answered_by: "copy"``, ``as_of`` the time
that day was read); a day before today is never shown and is deleted at the next live read
or sync run (one that fails too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.db_session import app_session
from node.models import NodeStationBookingCopy
from node.relay_site import NodeRelaySite
from node.sealing import SealError
from shared.domain.sites import Tier
from shared.domain.working_days import local_date
from shared.storage import sync_store
from shared.storage.sealing import DataLocked
from shared.web.hall_station_bookings import (
    COPY,
    COPY_ASKER,
    StationAnswer,
    station_bookings,
)

LOG = logging.getLogger("sanji.node.hall")
COPY_EVERY = timedelta(minutes=5)
"""The least time between two background refreshes (the sync runs every minute)."""
AHEAD_DAYS = 90
"""How far the background refresh asks (a hall books at most 90 days ahead); the hub answers
to its own last bookable day."""
REFRESHED_KEY = "hall-copy:refreshed"
"""``sync_state`` key: when the background refresh last had the hub's answer."""
Copy = NodeStationBookingCopy


def _context(station: str, day: str) -> str:
    return f"hall-copy:{station}:{day}"


@dataclass(frozen=True)
class NodeStationBookings(NodeRelaySite):
    """The node asks its parent; a village keeps a copy of its own station's answers."""

    def bookings(self, session: Session, station: str, first: date, last: date
                 ) -> tuple[list[dict[str, Any]], date] | None:
        return None

    def _keeps(self, station: str) -> bool:
        return station == self.sync_site.code and self.node.settings.tier is Tier.VILLAGE

    def keep(self, session: Session, station: str, first: date,
             answer: StationAnswer) -> None:
        """Replace the copy's days ``first`` to ``answer.through`` with the answer (a day
        without bookings is kept too: "none that day" is worth knowing offline)."""
        if not self._keeps(station):
            return
        last = date.fromisoformat(answer.through) if answer.through else first
        now = self.clock()
        by_day: dict[str, list[dict[str, Any]]] = {}
        for booking in answer.bookings:
            by_day.setdefault(str(booking.get("date") or first.isoformat()), []).append(
                booking)
        try:
            purge_copy(session, local_date(now))
            session.execute(delete(Copy).where(Copy.station == station,
                                               Copy.day >= first.isoformat(),
                                               Copy.day <= last.isoformat()))
            day = first
            while day <= last:
                key = day.isoformat()
                session.add(Copy(station=station, day=key, as_of=now,
                                 answered_by=answer.answered_by[:20],
                                 bookings_sealed=self.node.sealer.seal(
                                     by_day.get(key, []), _context(station, key))))
                day += timedelta(days=1)
            session.commit()
        except (DataLocked, SQLAlchemyError):  # locked, or another read wrote it just now
            session.rollback()
            LOG.warning("station bookings copy not kept",
                        extra={"fields": {"first": first.isoformat()}})

    def copy(self, session: Session, station: str, first: date, last: date
             ) -> StationAnswer | None:
        """The copy's answer for ``first`` to ``last`` when it holds every one of those days
        (``as_of`` the oldest of their reads); None otherwise."""
        if not self._keeps(station) or first < local_date(self.clock()):
            return None
        rows = list(session.scalars(select(Copy).where(
            Copy.station == station, Copy.day >= first.isoformat(),
            Copy.day <= last.isoformat()).order_by(Copy.day)))
        if len(rows) != (last - first).days + 1:
            return None
        bookings: list[dict[str, Any]] = []
        try:
            for row in rows:
                bookings.extend(self.node.sealer.open(row.bookings_sealed,
                                                      _context(station, row.day)))
        except (DataLocked, SealError):
            return None
        return StationAnswer(200, bookings, answered_by=COPY,
                             as_of=min(row.as_of for row in rows).isoformat(),
                             through=last.isoformat())


def purge_copy(session: Session, today: date) -> int:
    """Delete the copy's days before ``today`` (not committed); how many."""
    done = session.execute(delete(Copy).where(Copy.day < today.isoformat()))
    return int(getattr(done, "rowcount", 0) or 0)


def refresh_copy(app: Flask, *, reached: bool = True,
                 every: timedelta = COPY_EVERY) -> StationAnswer | None:
    """After a sync run at a village station: delete the days gone by and, when the run
    ``reached`` the parent and the data key is open, read today to the last bookable day
    from the hub in one relayed request and keep it, unless the last refresh is younger
    than ``every``; the answer, or None when nothing was asked."""
    node = app.extensions["sanji_node"]
    if node.settings.tier is not Tier.VILLAGE:
        return None
    site = NodeStationBookings(node)
    now = site.clock()
    today = local_date(now)
    with app_session(app) as session:
        purge_copy(session, today)
        session.commit()
        if not reached or node.data_key.locked:
            return None
        last = sync_store.read_state(session, REFRESHED_KEY)
        if last is not None:
            try:
                if now - datetime.fromisoformat(last.decode()) < every:
                    return None
            except ValueError:
                pass
        answer = station_bookings(site, session, site.sync_site.code, today, COPY_ASKER,
                                  today + timedelta(days=AHEAD_DAYS))
        if answer.status == 200 and answer.answered_by != COPY:
            sync_store.write_state(session, REFRESHED_KEY, now.isoformat().encode())
            session.commit()
        LOG.info("station bookings copy", extra={"fields": {
            "status": answer.status, "bookings": len(answer.bookings),
            "through": answer.through}})
        return answer
