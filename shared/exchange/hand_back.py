"""A child's side of the hand-back: what it owes a restored parent, and what it sends.

A complete answer from a restored parent lists, per older epoch of the parent's own chain,
the seq it still holds it through (:mod:`sync_protocol.hand_back`). The child keeps that as
what it owes (``sync_state`` row ``hand_back:<parent>``), sends the parent's events it holds
above it a request at a time, and moves past what each answered request carried. Written in
the transaction that stores the answer, so a lost answer hands the same events back again
(the parent stores each once)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import cbor2
from sqlalchemy.orm import Session

from shared.exchange.site import SyncSite
from shared.storage import sync_store as store
from shared.storage.hand_back import cases_owed_up, held_above, holds_sendable_above
from sync_protocol import Event
from sync_protocol.events import EventKey
from sync_protocol.hand_back import HAND_BACK_EVENTS, sendable


def owed_key(parent: str) -> str:
    return f"hand_back:{parent}"


def owed(session: Session, parent: str) -> dict[int, int]:
    """Per epoch of the parent's chain, the seq above which this site still hands back."""
    data = store.read_state(session, owed_key(parent))
    return {int(e): int(s) for e, s in cbor2.loads(data).items()} if data else {}


def _next_run(session: Session, site: SyncSite, epoch: int, after: int) -> list[Event]:
    assert site.parent is not None
    return sendable(held_above(session, site.sealer, site.parent, epoch, after,
                               HAND_BACK_EVENTS))


def to_hand_back(session: Session, site: SyncSite) -> tuple[list[Event], set[uuid.UUID]]:
    """The parent's own events to send back next (none: nothing owed), and the cases among
    them whose own events this site still owes the parent (those wait for them)."""
    if site.parent is None:
        return [], set()
    for epoch, after in sorted(owed(session, site.parent).items()):
        events = _next_run(session, site, epoch, after)
        if events:
            return events, cases_owed_up(session, {e.case_id for e in events})
    return [], set()


def after_answer(session: Session, site: SyncSite, own_chains: Mapping[int, int],
                 offered: Sequence[Event], handed: Sequence[EventKey]) -> bool:
    """Record what an answer says: a restored parent's own chains (what is owed from now
    on), or that of the events ``offered`` those ``handed`` back are stored there. What is
    owed moves past the offered events up to the first that waited (the ones after it that
    went are sent again later: the parent keeps each once). True while more is owed and this
    answer moved it (a hand-back waiting on events that do not go up waits for the next
    sync, never spins)."""
    if site.parent is None:
        return False
    before = owed(session, site.parent)
    chains = dict(own_chains) if own_chains else dict(before)
    if not own_chains:
        went = set(handed)
        for event in offered:
            if event.key not in went:
                break
            chains[event.epoch] = max(chains.get(event.epoch, 0), event.seq)
    left = {e: s for e, s in chains.items()
            if holds_sendable_above(session, site.parent, e, s, HAND_BACK_EVENTS)}
    if left != before:
        store.write_state(session, owed_key(site.parent), cbor2.dumps(left) if left else b"")
    return bool(left) and left != before
