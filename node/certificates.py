"""The node's side of the certificate look-up (:mod:`shared.web.certificate_lookup`): a node
keeps no store, so it asks its parent (up to the hub), for its own agents and for those of
the villages below it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.services import NodeServices
from shared.exchange.site import SyncSite


@dataclass(frozen=True)
class NodeCertificateSite:
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

    def held(self, session: Session, id_number: str, item_code: str,
             asked_by: str) -> list[dict[str, Any]] | None:
        self.node.catalogue.item(item_code)  # an item this node does not know: 404 here
        return None
