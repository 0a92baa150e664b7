"""The node's side of the public verify page (:mod:`shared.web.document_check`): a case
registered here or one in its window projection; wrong pairs count in the status lookup's
limiter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.intake import find_by_acceptance_no
from node.models import NodeWindowCase
from node.status_lookup import NodeStatusSite
from shared.domain.errors import DomainError


@dataclass(frozen=True)
class NodeDocumentSite(NodeStatusSite):
    def case_id_of(self, session: Session, acceptance_no: str) -> uuid.UUID | None:
        case = find_by_acceptance_no(session, acceptance_no)
        if case is not None:
            return case.case_id
        return session.scalar(select(NodeWindowCase.case_id).where(
            NodeWindowCase.acceptance_no == acceptance_no))

    def item_name(self, item_code: str) -> str:
        try:
            return self.node.catalogue.item(item_code).name.zh
        except DomainError:
            return item_code
