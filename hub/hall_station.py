"""The hub's side of a station's bookings (:mod:`shared.web.hall_station_bookings`): it keeps
every booking, so it answers from its table (a range of days in one query, to the hall's
last bookable day at most), has no parent to ask and keeps no copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.hall_config import load as load_config
from hub.hall_models import HubHallBooking, open_personal
from hub.hall_queue import local_time, today
from hub.relay_site import HubRelaySite
from shared.storage.sealing import DataKeys
from shared.web.hall_station_bookings import StationAnswer


def _personal(keys: DataKeys, booking: HubHallBooking) -> dict[str, str]:
    found = open_personal(keys, booking)
    return {"name": found.name, "phone": found.phone}


@dataclass(frozen=True)
class HubStationBookings(HubRelaySite):
    """The hub answers itself."""

    def bookings(self, session: Session, station: str, first: date, last: date
                 ) -> tuple[list[dict[str, Any]], date]:
        """The station's bookings of ``first`` to ``last`` by day and slot (cancelled ones
        too, marked); a range ends at the last bookable day (one day is answered as asked)."""
        if last > first:
            days_ahead = load_config(self.hub.settings.data_dir).days_ahead
            last = max(first, min(last, today(self.clock()) + timedelta(days=days_ahead)))
        b = HubHallBooking
        found = session.scalars(select(b).where(
            b.target == station, b.target_kind == "station", b.day >= first.isoformat(),
            b.day <= last.isoformat()).order_by(b.day, b.slot_ms, b.id))
        keys = self.hub.data_keys
        return [{"code": x.code, "date": x.day, "time": local_time(x.slot_ms),
                 **_personal(keys, x), "item_code": x.item_code, "state": x.state}
                for x in found], last

    def keep(self, session: Session, station: str, first: date,
             answer: StationAnswer) -> None:
        return None  # the hub holds the bookings themselves

    def copy(self, session: Session, station: str, first: date, last: date
             ) -> StationAnswer | None:
        return None
