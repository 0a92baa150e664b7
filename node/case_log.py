"""Appending to a case's event log on the node, and the counters behind it.

Every event this node authors is the next link of the node's hash chain, signed with the
site key, and queued toward the parent, in the caller's transaction
(:mod:`shared.storage.sync_store`):
whoever commits the event commits its way up. Events that come down from the parent
(decisions, receipts) are stored by the exchange (:mod:`shared.exchange`), at most once per
``(origin, epoch, seq)``; :func:`refresh_progress` then updates the case list.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node import hub_receipts
from node.case_progress import progress_of
from node.hub_receipts import receipt_through
from node.models import NodeCase, NodeMeta
from shared.exchange.site import SyncSite
from shared.storage import sync_store
from shared.storage.link_state import load_parent_link
from shared.storage.sync_store import ACKED, SyncEvent, SyncOutbox, next_counter
from sync_protocol import Receipt
from sync_protocol.times import to_ms


def next_value(session: Session, scope: str) -> int:
    """The next value of the counter ``scope`` (1 first), atomic in one statement."""
    return next_counter(session, scope)


def current_epoch(session: Session) -> int:
    """The store's epoch: 1 until a restore from backup starts a new one."""
    row = session.get(NodeMeta, "epoch")
    return int(row.value) if row is not None else 1


def event_payload(event: SyncEvent, sealer: sync_store.PayloadSealer) -> dict[str, Any]:
    """An event's payload, opened."""
    return sync_store.open_payload(event, sealer)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event this node authors for one of its cases (``actor`` is ``role:username``)."""

    type: str
    actor: str
    payload: Mapping[str, Any]


def corrected_now(session: Session, site: SyncSite, now: datetime) -> datetime:
    """``now`` on the parent's clock, as learnt from the last exchange (events carry it)."""
    if site.parent is None:
        return now
    link = load_parent_link(session, site=site.code, parent=site.parent, epoch=site.epoch)
    return link.corrected(now)


def append_local_event(
    session: Session,
    case: NodeCase,
    event: NewEvent,
    *,
    site: SyncSite,
    now: datetime,
) -> SyncEvent:
    """Add ``event`` to the case's log as the next event of this node's chain, queue it for
    the parent, refresh the case's cached state. Nothing is committed here.

    The site's hooks see it as they see what an exchange brings: at a township or county a
    case registered at its own desk is routed to its window when the site decides it, and
    what follows (a supplement, a hand-over, a rating) is admitted and projected there."""
    row = sync_store.author_event(
        session,
        site.key,
        site.sealer,
        epoch=site.epoch,
        case_id=case.case_id,
        actor=event.actor,
        type=event.type,
        payload=dict(event.payload),
        at_ms=to_ms(corrected_now(session, site, now)),
        up=not site.is_root,
        now_ms=to_ms(now),
    )
    site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
    refresh_progress(session, case, now=now)
    return row


def case_events(session: Session, case_id: uuid.UUID) -> list[SyncEvent]:
    """A case's events in the order this node recorded them."""
    return sync_store.case_rows(session, case_id)


def record_receipt(session: Session, receipt: Receipt, now: datetime) -> None:
    """Keep the hub's receipt for this node's chain (:mod:`node.hub_receipts`) and refresh
    the cases whose registration it newly covers (they show "received by the city")."""
    before = receipt_through(session, receipt.origin, receipt.epoch)
    if not hub_receipts.keep(session, receipt):
        return
    covered = select(SyncEvent.case_id).where(
        SyncEvent.type == "registered", SyncEvent.origin == receipt.origin,
        SyncEvent.epoch == receipt.epoch, SyncEvent.seq > before,
        SyncEvent.seq <= receipt.through_seq,
    )
    for case in session.scalars(select(NodeCase).where(NodeCase.case_id.in_(covered),
                                                       NodeCase.stage.in_(("queued_here",
                                                                           "sent_up")))):
        refresh_progress(session, case, now=now)


def refresh_progress(session: Session, case: NodeCase, *, now: datetime) -> None:
    """Recompute the case's cached ``state`` and ``stage`` from its log and its outbox rows."""
    rows = session.execute(
        select(SyncEvent.type, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq,
               SyncOutbox.state)
        .outerjoin(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
        .where(SyncEvent.case_id == case.case_id)
        .order_by(SyncEvent.id)
    ).all()
    registered_acked = any(  # a registration that came down (全城通办) was sent up long ago
        r.type == "registered" and r.origin == case.site_code and r.state in (ACKED, None)
        for r in rows
    )
    types: list[str] = []
    for r in rows:
        types.append(r.type)
        if (r.type == "registered" and r.origin == case.site_code
                and receipt_through(session, r.origin, r.epoch) >= r.seq):
            types.append("receipt")
    progress = progress_of(types, registered_acked=registered_acked)
    case.state = progress.state
    case.stage = progress.stage
    case.updated_at = now
