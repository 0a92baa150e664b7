"""The hub's side of a station's bookings (:mod:`shared.web.hall_station_bookings`): it keeps
every booking, so it answers from its table and has no parent to ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from hub.hall_queue import bookings_of, local_time
from hub.relay_site import HubRelaySite


@dataclass(frozen=True)
class HubStationBookings(HubRelaySite):
    """The hub answers itself."""

    def bookings(self, session: Session, station: str, day: date) -> list[dict[str, Any]]:
        return [{"code": b.code, "time": local_time(b.slot_ms), "name": b.name,
                 "phone": b.phone, "item_code": b.item_code, "state": b.state}
                for b in bookings_of(session, station, day) if b.target_kind == "station"]
