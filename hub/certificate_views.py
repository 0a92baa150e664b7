"""The hub's side of the certificate look-up (:mod:`shared.web.certificate_lookup`): the hub
keeps the store (:mod:`hub.privacy.certificates`), so it answers every question itself, from
its own agents and admins and from the agents its children vouch for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from hub.privacy.certificates import held_for
from hub.relay_site import HubRelaySite
from shared.domain.working_days import SHANGHAI


@dataclass(frozen=True)
class HubCertificateSite(HubRelaySite):
    """The hub answers itself."""

    def held(self, session: Session, id_number: str, item_code: str,
             asked_by: str) -> list[dict[str, Any]] | None:
        catalogue = self.hub.catalogue
        item = catalogue.item(item_code)
        found = held_for(session, self.hub.data_keys, catalogue, id_number, item_code,
                         asked_by=asked_by, now=self.clock())
        session.commit()  # the look-up's log row
        names = {m.code: m.name.zh for m in item.materials}
        return [{"material_code": h.material_code, "name": names.get(h.material_code, ""),
                 "ref": h.ref, "source": h.source,
                 # the last day it may be used (the store keeps the first day it may not)
                 "valid_until": ((h.valid_until.astimezone(SHANGHAI) - timedelta(days=1))
                                 .date().isoformat() if h.valid_until else None),
                 "recorded_at": h.recorded_at.isoformat()} for h in found]
