"""The node's side of the certificate look-up (:mod:`shared.web.certificate_lookup`): a node
keeps no store, so it asks its parent (up to the hub), for its own agents and for those of
the villages below it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from node.relay_site import NodeRelaySite


@dataclass(frozen=True)
class NodeCertificateSite(NodeRelaySite):
    """The node asks its parent."""

    def held(self, session: Session, id_number: str, item_code: str,
             asked_by: str) -> list[dict[str, Any]] | None:
        self.node.catalogue.item(item_code)  # an item this node does not know: 404 here
        return None
