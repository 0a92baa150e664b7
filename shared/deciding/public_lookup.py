"""A deciding site's own answer to the public status lookup, from its projection and the
case's log: the hub for every case it holds, a township or county for the cases in its
window projection. The page and the API around it are :mod:`shared.web.public_status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.case_projection import CaseProjectionColumns
from shared.domain.application import query_code_opens, registered_query_check
from shared.domain.case_state import fold
from shared.domain.catalogue import Catalogue
from shared.domain.delivery import courier_of
from shared.domain.errors import DomainError
from shared.exchange.site import SyncSite
from shared.exchange.status import copy_as_of
from sync_protocol.times import from_ms


def projection_status(session: Session, site: SyncSite, model: type[CaseProjectionColumns],
                      catalogue: Catalogue, *, acceptance_no: str, query_code: str, lang: str,
                      now: datetime) -> dict[str, Any] | None:
    """The public status of the case numbered ``acceptance_no`` if this site holds it and
    ``query_code`` is its code; None otherwise (the caller says no more than "not found")."""
    row = session.scalar(select(model).where(model.acceptance_no == acceptance_no))
    if row is None:
        return None
    events = case_work.case_events(session, site, row.case_id)
    expected = registered_query_check(events[0].payload) if events else None
    if expected is None or not query_code_opens(row.case_id, query_code, expected):
        return None
    state = fold(events)
    missing = list(state.missing)
    try:
        item = catalogue.item(row.item_code)
        item_name = item.name.get(lang)
        names = item.material_names(missing, lang)
    except DomainError:  # an item withdrawn since: show its code
        item_name, names = row.item_code, missing
    as_of = copy_as_of(session, site, row.owner_site, now) or from_ms(row.updated_ms)
    return {
        "acceptance_no": row.acceptance_no, "item_name": item_name,
        "state": state.state.value, "stage": state.stage,
        "deadline": from_ms(row.due_ms).isoformat() if row.due_ms else None,
        "missing": missing, "missing_names": names,
        "outcome": state.outcome.value if state.outcome else None,
        "as_of": as_of.isoformat(),
        "courier": courier_of((e.type.value, e.payload, e.at) for e in events),
    }
