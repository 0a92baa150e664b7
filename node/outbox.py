"""Reading and acknowledging the outbox toward the parent: the seam for the sync job.

Batches are bounded (``limit``) and in the order events were written. An acknowledgement
names events by ``(origin, epoch, seq)``; acknowledged rows keep their ``acked_at`` and stay
(retention for a parent restored from backup is the sync job's to enforce), and the cases
they belong to have their stage refreshed (``queued_here`` -> ``sent_up``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from node.case_log import PARENT, refresh_progress
from node.models import NodeCase, NodeEvent, NodeOutbox


def pending(
    session: Session, limit: int, destination: str = PARENT
) -> list[tuple[NodeOutbox, NodeEvent]]:
    """At most ``limit`` unacknowledged events for ``destination``, oldest first."""
    rows = session.execute(
        select(NodeOutbox, NodeEvent)
        .join(NodeEvent, NodeEvent.id == NodeOutbox.event_id)
        .where(NodeOutbox.destination == destination, NodeOutbox.acked_at.is_(None))
        .order_by(NodeOutbox.id)
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def pending_count(session: Session, destination: str = PARENT) -> int:
    """How many events the parent has not acknowledged yet."""
    count = session.scalar(
        select(func.count())
        .select_from(NodeOutbox)
        .where(NodeOutbox.destination == destination, NodeOutbox.acked_at.is_(None))
    )
    return int(count or 0)


def acknowledge(
    session: Session,
    keys: Iterable[tuple[str, int, int]],
    *,
    now: datetime,
    destination: str = PARENT,
) -> int:
    """Mark the events named by ``(origin, epoch, seq)`` as stored by the parent; returns how
    many rows changed (an ack repeated is harmless). The caller commits."""
    wanted = list(keys)
    if not wanted:
        return 0
    rows = session.execute(
        select(NodeOutbox, NodeEvent.case_id)
        .join(NodeEvent, NodeEvent.id == NodeOutbox.event_id)
        .where(
            NodeOutbox.destination == destination,
            NodeOutbox.acked_at.is_(None),
            tuple_(NodeEvent.origin, NodeEvent.epoch, NodeEvent.seq).in_(wanted),
        )
    ).all()
    case_ids = set()
    for outbox, case_id in rows:
        outbox.acked_at = now
        case_ids.add(case_id)
    session.flush()
    for case_id in case_ids:
        case = session.get(NodeCase, case_id)
        if case is not None:
            refresh_progress(session, case, now=now)
    return len(rows)
