"""The hub's side of the public verify page (:mod:`shared.web.document_check`): every case
that reached the city is in its projection; wrong pairs count in the status lookup's
limiter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.public_status import HubStatusSite
from shared.domain.errors import DomainError


@dataclass(frozen=True)
class HubDocumentSite(HubStatusSite):
    def case_id_of(self, session: Session, acceptance_no: str) -> uuid.UUID | None:
        return session.scalar(select(HubCase.case_id).where(
            HubCase.acceptance_no == acceptance_no))

    def item_name(self, item_code: str) -> str:
        try:
            return self.hub.catalogue.item(item_code).name.zh
        except DomainError:
            return item_code
