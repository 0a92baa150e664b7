"""The life-long trace (终身追溯) of one person's work: every event they authored at or
through this site — claimed, accepted, reviewed, checked, decided, transferred, urged — with
the case, the site it was recorded at and when, newest first, read from the event store
through its index on ``(actor, at_ms)``. Events keep the actor's username and role for ever,
so the trace survives a change of window or role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.domain.case_events import Role
from shared.storage.sync_store import SyncEvent

PAGE = 100
CSV_LIMIT = 50_000
"""Rows an export holds at most (a person's years of work; narrow by time for more)."""


@dataclass(frozen=True, slots=True)
class TraceRow:
    at_ms: int
    type: str
    role: str
    case_id: uuid.UUID
    recorded_at: str
    """The site whose chain holds the event (where it was done)."""
    acceptance_no: str | None
    window: str | None


def trace(session: Session, model: ProjectionModel, username: str, *,
          before_ms: int | None = None, limit: int = PAGE) -> list[TraceRow]:
    """``username``'s events, newest first, older than ``before_ms`` when given."""
    actors = [f"{role.value}:{username}" for role in Role if role is not Role.SYSTEM]
    e, m = SyncEvent, model
    query = (select(e.at_ms, e.type, e.actor, e.case_id, e.origin, m.acceptance_no, m.window)
             .outerjoin(m, m.case_id == e.case_id)
             .where(e.actor.in_(actors)))
    if before_ms is not None:
        query = query.where(e.at_ms < before_ms)
    rows = session.execute(query.order_by(e.at_ms.desc(), e.id.desc()).limit(limit))
    return [TraceRow(at, type_, actor.partition(":")[0], case_id, origin, number, window)
            for at, type_, actor, case_id, origin, number, window in rows]
