"""The hub's side of the public status lookup (:mod:`shared.web.public_status`): it holds
every case that reached the city, so it answers from its own projection and has no parent
to ask. Wrong pairs are counted in the table every hub process shares, on the wall clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.services import HubServices
from shared.deciding.public_lookup import projection_status
from shared.exchange.site import SyncSite
from shared.web.public_status import StatusQuery
from shared.web.rate_limit import FailureLimiter


@dataclass(frozen=True)
class HubStatusSite:
    hub: HubServices

    @property
    def limiter(self) -> FailureLimiter:
        return self.hub.status_limiter

    def limiter_now(self) -> float:
        return self.hub.clock().timestamp()

    def clock(self) -> datetime:
        return self.hub.clock()

    @property
    def sync_site(self) -> SyncSite:
        return self.hub.sync_site

    def own_copy(self, session: Session, query: StatusQuery) -> dict[str, Any] | None:
        return projection_status(session, self.hub.sync_site, HubCase, self.hub.catalogue,
                                 acceptance_no=query.acceptance_no,
                                 query_code=query.query_code, lang=query.lang,
                                 now=self.hub.clock())

    def parent(self) -> tuple[str, str | bool] | None:
        return None
