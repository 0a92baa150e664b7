"""The node's side of the public status lookup (:mod:`shared.web.public_status`).

A node answers from its own copy: a case registered here (``node_cases``), or one in its
window projection (a township or county deciding or watching it). ``as_of`` is now for a
case decided here (the live copy); otherwise the last exchange that could have brought it
news, and never earlier than the registration here. A case it does not hold is asked of the
parent while one is configured. Wrong pairs are counted in memory on the monotonic clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.case_summary import public_status
from node.intake import find_by_acceptance_no, query_code_matches
from node.models import NodeCase, NodeWindowCase
from node.services import NodeServices
from shared.deciding.public_lookup import projection_status
from shared.exchange.site import SyncSite
from shared.exchange.status import copy_as_of
from shared.web.public_status import StatusQuery
from shared.web.rate_limit import FailureLimiter


@dataclass(frozen=True)
class NodeStatusSite:
    node: NodeServices

    @property
    def limiter(self) -> FailureLimiter:
        return self.node.limiter

    def limiter_now(self) -> float:
        return self.node.monotonic()

    def clock(self) -> datetime:
        return self.node.clock()

    @property
    def sync_site(self) -> SyncSite:
        return self.node.sync_site

    def own_copy(self, session: Session, query: StatusQuery) -> dict[str, Any] | None:
        node = self.node
        case = find_by_acceptance_no(session, query.acceptance_no)
        if case is not None:
            if not query_code_matches(case, query.query_code):
                return None
            return public_status(session, case, node.catalogue, node.sealer, lang=query.lang,
                                 as_of=self._as_of(session, case))
        return projection_status(session, node.sync_site, NodeWindowCase, node.catalogue,
                                 acceptance_no=query.acceptance_no,
                                 query_code=query.query_code, lang=query.lang,
                                 now=node.clock())

    def _as_of(self, session: Session, case: NodeCase) -> datetime:
        owner = session.scalar(select(NodeWindowCase.owner_site).where(
            NodeWindowCase.case_id == case.case_id)) or ""
        exchanged = copy_as_of(session, self.node.sync_site, owner, self.node.clock())
        return max(exchanged, case.registered_at) if exchanged else case.registered_at

    def parent(self) -> tuple[str, str | bool] | None:
        settings = self.node.settings
        if not settings.parent_url:
            return None
        return settings.parent_url, settings.parent_tls_verify
