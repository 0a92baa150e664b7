"""The node's side of a station's bookings (:mod:`shared.web.hall_station_bookings`): the
hub keeps them, so a node asks its parent (up to the hub), for its own agent and for those
of the villages below it; offline it has none to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from node.relay_site import NodeRelaySite


@dataclass(frozen=True)
class NodeStationBookings(NodeRelaySite):
    """The node asks its parent."""

    def bookings(self, session: Session, station: str, day: date
                 ) -> list[dict[str, Any]] | None:
        return None
