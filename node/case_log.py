"""Appending to a case's event log on the node, and the counters behind it.

Every event this node authors gets the next ``seq`` of ``(site code, epoch)`` and an outbox row
toward the parent, in the caller's transaction: whoever commits the event commits its way up.
Events received from the parent (decisions, receipts) are recorded with
:func:`record_received_event`, at most once per ``(origin, epoch, seq)``, and are never queued
up again. The sync layer signs events when it sends them; here they are stored with origin,
epoch, seq, type, actor, time and a sealed payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from node.case_progress import progress_of
from node.models import NodeCase, NodeEvent, NodeMeta, NodeOutbox, NodeSequence
from node.sealing import DataSealer

PARENT = "parent"


def next_value(session: Session, scope: str) -> int:
    """The next value of the counter ``scope`` (1 first), atomic in one statement."""
    insert = sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert
    statement = (
        insert(NodeSequence)
        .values(scope=scope, last_value=1)
        .on_conflict_do_update(
            index_elements=[NodeSequence.scope],
            set_={"last_value": NodeSequence.last_value + 1},
        )
        .returning(NodeSequence.last_value)
    )
    value = session.execute(statement).scalar_one()
    return int(value)


def current_epoch(session: Session) -> int:
    """The store's epoch: 1 until a restore from backup starts a new one."""
    row = session.get(NodeMeta, "epoch")
    return int(row.value) if row is not None else 1


def event_context(origin: str, epoch: int, seq: int) -> str:
    """The sealing context of an event's payload."""
    return f"event:{origin}:{epoch}:{seq}"


def event_payload(event: NodeEvent, sealer: DataSealer) -> dict[str, Any]:
    """An event's payload, opened."""
    payload = sealer.open(event.payload_sealed, event_context(event.origin, event.epoch, event.seq))
    assert isinstance(payload, dict)
    return payload


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event this node authors for one of its cases."""

    type: str
    actor: str
    payload: Mapping[str, Any]


def append_local_event(
    session: Session,
    case: NodeCase,
    event: NewEvent,
    *,
    sealer: DataSealer,
    now: datetime,
) -> NodeEvent:
    """Add ``event`` to the case's log with the next seq, queue it for the parent, refresh
    the case's cached state. Nothing is committed here."""
    epoch = current_epoch(session)
    origin = case.site_code
    seq = next_value(session, f"events:{origin}:{epoch}")
    row = NodeEvent(
        case_id=case.case_id,
        origin=origin,
        epoch=epoch,
        seq=seq,
        type=event.type,
        actor=event.actor,
        at=now,
        payload_sealed=sealer.seal(dict(event.payload), event_context(origin, epoch, seq)),
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    session.add(NodeOutbox(event_id=row.id, destination=PARENT, enqueued_at=now, attempts=0))
    refresh_progress(session, case, now=now)
    return row


def record_received_event(
    session: Session,
    case: NodeCase,
    *,
    origin: str,
    epoch: int,
    seq: int,
    type: str,
    actor: str,
    at: datetime,
    payload: Mapping[str, Any],
    sealer: DataSealer,
    now: datetime,
) -> bool:
    """Store an event that came down from the parent; False when it was already held."""
    held = session.scalar(
        select(NodeEvent.id).where(
            NodeEvent.origin == origin, NodeEvent.epoch == epoch, NodeEvent.seq == seq
        )
    )
    if held is not None:
        return False
    session.add(
        NodeEvent(
            case_id=case.case_id,
            origin=origin,
            epoch=epoch,
            seq=seq,
            type=type,
            actor=actor,
            at=at,
            payload_sealed=sealer.seal(dict(payload), event_context(origin, epoch, seq)),
            recorded_at=now,
        )
    )
    session.flush()
    refresh_progress(session, case, now=now)
    return True


def case_events(session: Session, case_id: uuid.UUID) -> list[NodeEvent]:
    """A case's events in the order this node recorded them."""
    return list(
        session.scalars(
            select(NodeEvent).where(NodeEvent.case_id == case_id).order_by(NodeEvent.id)
        )
    )


def refresh_progress(session: Session, case: NodeCase, *, now: datetime) -> None:
    """Recompute the case's cached ``state`` and ``stage`` from its log and its outbox rows."""
    rows = session.execute(
        select(NodeEvent.type, NodeEvent.origin, NodeOutbox.acked_at)
        .outerjoin(NodeOutbox, NodeOutbox.event_id == NodeEvent.id)
        .where(NodeEvent.case_id == case.case_id)
        .order_by(NodeEvent.id)
    ).all()
    registered_acked = any(
        r.type == "registered" and r.origin == case.site_code and r.acked_at is not None
        for r in rows
    )
    progress = progress_of([r.type for r in rows], registered_acked=registered_acked)
    case.state = progress.state
    case.stage = progress.stage
    case.updated_at = now
