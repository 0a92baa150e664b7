"""The citizen's rating given online (网上评价) at the city's online hall, opened with the
acceptance number and query code the receipt carries (the same pair the public lookup
takes). The site records ``rated`` with the online channel's indicators as its own
``online`` system actor: no account stands behind it, the pair is the proof. Where this site
decides the case, a bad rating opens its rectification at once; otherwise the rating travels
to the deciding site, which opens it on arrival (:mod:`shared.deciding.rectification`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.case_projection import ProjectionModel, refresh
from shared.deciding.rectification import rectification_draft
from shared.domain.application import query_code_opens, registered_query_check
from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.case_state import apply, fold
from shared.domain.catalogue import Catalogue
from shared.domain.errors import DomainError, NotFound, StateConflict
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite

ONLINE = EventActor("online", Role.SYSTEM)


def rate_online(session: Session, site: SyncSite, model: ProjectionModel, *,
                catalogue: Catalogue, calendar: WorkingDayCalendar, acceptance_no: str,
                query_code: str, payload: dict[str, Any], now: datetime) -> str:
    """Record the rating (``payload`` from :func:`shared.domain.rating.rating_payload`) of
    the case the pair opens; returns the case's id. :class:`NotFound` for a wrong pair (say
    no more), :class:`StateConflict` when the case is not decided yet or rated already.
    The caller commits."""
    row = session.scalar(select(model).where(model.acceptance_no == acceptance_no))
    events = case_work.case_events(session, site, row.case_id) if row is not None else []
    expected = registered_query_check(events[0].payload) if events else None
    if row is None or expected is None or not query_code_opens(row.case_id, query_code,
                                                               expected):
        raise NotFound("acceptance_no", "no case with this number and code")
    state = fold(events)
    if state.result_issued_at is None:
        raise StateConflict("case", "the service is rated once the result is issued")
    draft = EventDraft(EventType.RATED, ONLINE, now, payload)
    state = apply(state, draft)  # one rating per case: a second is a StateConflict
    drafts = [draft]
    if row.owner_site == site.code:
        try:
            department = catalogue.item(row.item_code).department
        except DomainError:
            department = None
        opened = (rectification_draft(state, [*events, draft], department, calendar, now)
                  if department is not None else None)
        if opened is not None:
            drafts.append(opened)
    case_work.append_drafts(session, site, row.case_id, drafts, now, state.origin_site)
    refresh(session, model, site, row.case_id, row.owner_site, now)
    return str(row.case_id)
