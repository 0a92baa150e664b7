"""What a node's side of a question relayed up the tree needs (the certificate store, a
station's bookings): its place in the tree, its clock, and the parent to ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.services import NodeServices
from shared.exchange.site import SyncSite


@dataclass(frozen=True)
class NodeRelaySite:
    """A node answering nothing itself: every question goes to its parent."""

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
