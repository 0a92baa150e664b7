"""What the hub's side of a question relayed up the tree needs (the certificate store, a
station's bookings): the hub keeps what is asked, so it has no parent to ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.services import HubServices
from shared.exchange.site import SyncSite


@dataclass(frozen=True)
class HubRelaySite:
    """The top of the tree: it answers every relayed question itself."""

    hub: HubServices

    @property
    def sync_site(self) -> SyncSite:
        return self.hub.sync_site

    def clock(self) -> datetime:
        return self.hub.clock()

    def parent(self) -> tuple[str, str | bool] | None:
        return None  # what is asked is kept here
