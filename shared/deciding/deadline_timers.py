"""Deadline timers of a deciding site: what the law says happens when a limit passes.

- 缺席默许: a joint item whose co-approving departments did not answer by the shared deadline
  is deemed to have their consent (``deemed_consent``), when the item says so;
- 超时许可: an item the catalogue marks ``overdue_means_approval`` is deemed approved when its
  window did not decide in time (``deemed_approval``).

:func:`run_due_timers` claims the open cases whose timer has come due (``timer_ms``: the
shared deadline of a joint case still waiting for a department, the legal deadline of an
undecided 超时许可 case; recorded at acceptance) from the site's projection with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers anyway), so
several hub processes running it at once never apply a timer twice: a case is claimed by one
transaction, and the next run finds the timer's events already in the case's log. Each case
is handled in its own transaction; the events are the site's own (``system`` actor), signed
and sent down to the origin like any window action.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.case_projection import ProjectionModel, refresh
from shared.domain.case_events import Actor, Role
from shared.domain.case_state import Status, fold
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_versions import CatalogueVersions
from shared.domain.errors import DomainError
from shared.domain.window_workflow import ActionRequest
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from sync_protocol.times import from_ms, to_ms

LOG = logging.getLogger("sanji.timers")
BATCH = 50


@dataclass(frozen=True, slots=True)
class TimerRun:
    """What one run did: cases looked at and timers applied."""

    examined: int
    applied: int


def _overdue(session: Session, model: ProjectionModel, site: str, now_ms: int) -> list[uuid.UUID]:
    m = model
    query = (
        select(m.case_id)
        .where(m.owner_site == site, m.open == 1, m.timer_ms.is_not(None),
               m.timer_ms < now_ms)
        .order_by(m.timer_ms)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def _timer_for(session: Session, site: SyncSite, catalogue: Catalogue,
               case_id: uuid.UUID, versions: CatalogueVersions | None) -> str | None:
    """The timer action due for this case (by the item as the release the case was
    accepted under has it), or None."""
    events = case_work.case_events(session, site, case_id)
    if not events:
        return None
    state = fold(events)
    if state.item_code is None:
        return None
    chosen = case_work.case_catalogue(events, catalogue, versions).catalogue
    _, rules = case_work.item_rules(chosen, state.item_code)
    if state.state is Status.JOINT_APPROVAL and rules.absence_means_consent:
        return "deemed_consent" if state.pending_departments else None
    if rules.overdue_means_approval and state.outcome is None and state.state in (
        Status.ACCEPTED, Status.REVIEWED,
    ):
        return "deemed_approval"
    return None


def run_due_timers(session_factory: Callable[[], Session], site: SyncSite,
                   catalogue: Catalogue, calendar: WorkingDayCalendar, tier: str,
                   model: ProjectionModel, now: datetime, *,
                   versions: CatalogueVersions | None = None) -> TimerRun:
    """Apply every timer that has come due (bounded to :data:`BATCH` cases per call);
    ``versions``: the catalogue releases held, each case judged by its own."""
    examined = applied = 0
    system = Actor(case_work.SYSTEM_USER, Role.SYSTEM, site.code, tier)
    with session_factory() as session:
        case_ids = _overdue(session, model, site.code, to_ms(now))
        for case_id in case_ids:
            examined += 1
            row = session.get(model, case_id)
            if row is None or row.timer_ms is None:
                continue
            action = _timer_for(session, site, catalogue, case_id, versions)
            if action is None:
                continue
            try:
                case_work.act(session, site, catalogue, calendar, system, case_id,
                              ActionRequest(action=action, due_at=from_ms(row.timer_ms)), now,
                              versions=versions)
            except DomainError as exc:
                LOG.warning("timer not applied", extra={"fields": {
                    "case_id": str(case_id), "action": action, "reason": exc.reason}})
                continue
            refresh(session, model, site, case_id, row.owner_site, now)
            applied += 1
        session.commit()  # releases the row locks taken by SKIP LOCKED
    return TimerRun(examined, applied)
