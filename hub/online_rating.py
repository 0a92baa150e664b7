"""The hub's side of rating online (:mod:`shared.web.online_rating`): the city's online hall
holds every case that reached the city, and wrong pairs count in the status lookup's
limiter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.public_status import HubStatusSite
from shared.deciding.online_rating import rate_online


@dataclass(frozen=True)
class HubRatingSite(HubStatusSite):
    def record(self, session: Session, acceptance_no: str, query_code: str,
               payload: dict[str, Any]) -> str:
        hub = self.hub
        case_id = rate_online(session, hub.sync_site, HubCase, catalogue=hub.catalogue,
                              calendar=hub.calendar, acceptance_no=acceptance_no,
                              query_code=query_code, payload=payload, now=hub.clock())
        session.commit()
        return case_id
