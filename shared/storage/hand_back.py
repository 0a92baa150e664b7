"""Queries for the hand-back after a parent's restore (:mod:`sync_protocol.hand_back`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from shared.storage.sync_store import PENDING, PayloadSealer, SyncEvent, SyncOutbox, as_event
from sync_protocol import Event
from sync_protocol.messages import MAX_OWN_CHAINS


def own_chains(session: Session, origin: str, before_epoch: int) -> dict[int, int]:
    """Per epoch of ``origin``'s chain before ``before_epoch`` (the last
    :data:`MAX_OWN_CHAINS`): the seq it is held here through without a gap, 0 when none of
    it is (a backup from before its first event). Read for a complete answer only (a
    child's first contact, or this site's first answers after a restore)."""
    first_epoch = max(1, before_epoch - MAX_OWN_CHAINS)
    later = aliased(SyncEvent)
    gap_after = (
        select(SyncEvent.epoch, func.min(SyncEvent.seq))
        .where(SyncEvent.origin == origin, SyncEvent.epoch >= first_epoch,
               SyncEvent.epoch < before_epoch,
               ~exists().where(and_(later.origin == SyncEvent.origin,
                                    later.epoch == SyncEvent.epoch,
                                    later.seq == SyncEvent.seq + 1)))
        .group_by(SyncEvent.epoch)
    )
    firsts = set(session.scalars(select(SyncEvent.epoch).where(
        SyncEvent.origin == origin, SyncEvent.epoch >= first_epoch,
        SyncEvent.epoch < before_epoch, SyncEvent.seq == 1)))
    held = {epoch: seq for epoch, seq in session.execute(gap_after).all() if epoch in firsts}
    return {epoch: held.get(epoch, 0) for epoch in range(first_epoch, before_epoch)}


def held_above(session: Session, sealer: PayloadSealer, origin: str, epoch: int,
               after_seq: int, limit: int) -> list[Event]:
    """Up to ``limit`` events of chain ``(origin, epoch)`` held here above ``after_seq``,
    in seq order (with the signatures they came with)."""
    rows = session.scalars(
        select(SyncEvent)
        .where(SyncEvent.origin == origin, SyncEvent.epoch == epoch, SyncEvent.seq > after_seq)
        .order_by(SyncEvent.seq).limit(limit))
    return [as_event(row, sealer) for row in rows]


def holds_sendable_above(session: Session, origin: str, epoch: int, after_seq: int,
                         limit: int) -> bool:
    """Whether :func:`held_above` would give a run to send: a signed event among the first
    ``limit`` held above ``after_seq`` (read from the index, nothing unsealed)."""
    first = (select(SyncEvent.signature)
             .where(SyncEvent.origin == origin, SyncEvent.epoch == epoch,
                    SyncEvent.seq > after_seq)
             .order_by(SyncEvent.seq).limit(limit).subquery())
    found = session.scalar(select(first.c.signature).where(first.c.signature.is_not(None))
                           .limit(1))
    return found is not None


def cases_owed_up(session: Session, case_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The cases among ``case_ids`` with events still owed to the parent: their events go
    up before the parent's own are handed back (a restored parent must hold a case before
    it folds its own events of it in)."""
    wanted = sorted(set(case_ids))
    owed: set[uuid.UUID] = set()
    for start in range(0, len(wanted), 500):
        owed.update(session.scalars(
            select(SyncEvent.case_id).distinct()
            .join(SyncOutbox, SyncOutbox.event_id == SyncEvent.id)
            .where(SyncOutbox.state == PENDING, SyncEvent.case_id.in_(wanted[start:start + 500]))))
    return owed
