"""The tree below this site, as the certificates it holds draw it, and the way down to a
case's origin: what goes toward a child is queued on that child's down link."""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import cbor2
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.exchange.site import SyncSite
from shared.storage import sync_store as store
from sync_protocol import (
    Certificate,
    Event,
    Receipt,
)
from sync_protocol.credentials import credential_from_wire
from sync_protocol.times import to_ms

LOG = logging.getLogger("sanji.sync")
_PARENTS: weakref.WeakKeyDictionary[
    Engine, dict[tuple[int, int, bytes], dict[str, str | None]]] = weakref.WeakKeyDictionary()


def site_parents(session: Session) -> dict[str, str | None]:
    """Each certified site's parent, from the certificates this site holds (the newest
    certificate of a site wins: a moved site). Credentials are only ever added, so the
    parsed map is kept per database engine and :func:`store.credentials_version`."""
    newest, count, newest_wire, _ = store.credentials_version(session)
    version = (newest, count, newest_wire)
    kept = _PARENTS.setdefault(session.get_bind().engine, {})
    cached = kept.get(version)
    if cached is not None:
        return dict(cached)
    parents: dict[str, str | None] = {}
    for wire in session.scalars(select(store.SyncCredential.wire)
                                .order_by(store.SyncCredential.id)):
        credential = credential_from_wire(cbor2.loads(wire))
        if isinstance(credential, Certificate):
            parents[credential.site] = credential.parent
    kept.clear()
    kept[version] = parents
    return dict(parents)


def children_of(session: Session, site: str) -> set[str]:
    return {s for s, p in site_parents(session).items() if p == site}


def child_toward(parents: Mapping[str, str | None], site: str, target: str) -> str | None:
    """The child of ``site`` on the way down to ``target`` (None if not below ``site``)."""
    current: str | None = target
    for _ in range(32):
        if current is None:
            return None
        parent = parents.get(current)
        if parent == site:
            return current
        current = parent
    return None


def send_down(session: Session, site: SyncSite, item: Event | Receipt, origin: str,
              now: datetime) -> bool:
    """Queue ``item`` toward the child on the way to ``origin``; False if not below us."""
    return send_all_down(session, site, [(item, origin)], now) == 1


def send_all_down(session: Session, site: SyncSite,
                  items: Sequence[tuple[Event | Receipt, str | None]], now: datetime, *,
                  park: bool = False, referred: Collection[uuid.UUID] | None = None) -> int:
    """Queue each ``(item, origin)`` toward the child on the way to ``origin`` (an event's
    origin None: the site that registered its case, looked up); items bound for this site
    or for no site below it are left. ``park``: what came from the parent for a case not
    held here yet is kept until the case arrives (:func:`send_parked_down`), when this
    site has children. Returns how many were queued.

    An event also goes toward the office its case was referred to (全城通办) and the station
    chosen to hand its result over, and never back into the branch below this site that
    authored it: that branch holds it already.
    A case referred here for the first time sends its earlier events after it too.
    ``referred``: the only cases that may hold a ``referred`` event, when the caller knows
    (the others are not looked up; None: every case is)."""
    parents = site_parents(session)
    events = [i for i, _ in items if isinstance(i, Event)]
    unknown = {i.case_id for i, o in items if o is None and isinstance(i, Event)}
    registered = store.case_origins(session, unknown) if unknown else {}
    owners = store.referred_destinations(session, site.sealer, {
        e.case_id for e in events if referred is None or e.case_id in referred})
    queued: list[tuple[str, Event | Receipt]] = []
    unrouted: list[Event] = []
    for item, origin in items:
        if origin is None and isinstance(item, Event):
            origin = registered.get(item.case_id)
            if origin is None:
                unrouted.append(item)
                continue
        if origin is None:
            continue
        if not isinstance(item, Event):
            child = child_toward(parents, site.code, origin) if origin != site.code else None
            if child is not None:
                queued.append((child, item))
            continue
        queued.extend((child, item) for child in _children_for(
            parents, site.code, item, (origin, *owners.get(item.case_id, ()))))
    # a referred case's earlier events go first: a site's log starts with the registration
    queued[:0] = _referred_backlog(session, site, parents, events, owners)
    if park and unrouted and site.code in parents.values():
        store.park_unrouted(session, unrouted)
    store.enqueue_down_many(session, queued, epoch=site.epoch, now_ms=to_ms(now))
    return len(queued)


def _children_for(parents: Mapping[str, str | None], here: str, event: Event,
                  destinations: Sequence[str | None]) -> set[str]:
    """The children ``event`` goes to on its way to ``destinations`` (its case's origin and
    owner): none toward this site itself, none back into the branch that authored it."""
    authored_in = child_toward(parents, here, event.origin)
    children = {child_toward(parents, here, d) for d in destinations if d and d != here}
    found = {c for c in children if c is not None and c != authored_in}
    if found and event.signature is None:
        # it came up inside a run that one signature closed: no site below could check it
        # alone (the sites below send a referred case's events each signed on its own)
        LOG.warning("event not sent down: it holds no signature of its own", extra={
            "fields": {"case_id": str(event.case_id), "origin": event.origin,
                       "seq": event.seq, "towards": sorted(found)}})
        return set()
    return found


def _referred_backlog(session: Session, site: SyncSite, parents: Mapping[str, str | None],
                      events: Sequence[Event], owners: Mapping[uuid.UUID, tuple[str, ...]]
                      ) -> list[tuple[str, Event | Receipt]]:
    """When a case's ``referred`` event passes here, the case's earlier events held here go
    toward the office it names (and the hand-over station) too: those not among
    ``events``, queued already."""
    referred = {e.case_id for e in events if e.type == "referred"}
    sending = {(e.origin, e.epoch, e.seq) for e in events}
    backlog: list[tuple[str, Event | Receipt]] = []
    for case_id in sorted(referred):
        below = tuple(d for d in owners.get(case_id, ())
                      if child_toward(parents, site.code, d) is not None)
        if not below:
            continue
        for held in store.case_events_held(session, site.sealer, case_id):
            if (held.origin, held.epoch, held.seq) in sending:
                continue
            backlog.extend((child, held) for child in _children_for(
                parents, site.code, held, below))
    return backlog


def send_referred_down(session: Session, site: SyncSite, arrived: Sequence[Event],
                       now: datetime) -> int:
    """What came up from a child for a referred case (全城通办) goes on down the other
    branches it concerns: toward the office it was referred to, the registering station
    and the hand-over station. One query finds the referred cases among ``arrived``; the
    events of a case decided on its own branch never go down another, so nothing else is
    looked up for them. Returns how many items were queued."""
    owners = store.referred_destinations(session, site.sealer, {e.case_id for e in arrived})
    crossing = [(e, None) for e in arrived if e.case_id in owners]
    return send_all_down(session, site, crossing, now) if crossing else 0


def send_parked_down(session: Session, site: SyncSite, arrived: Sequence[Event],
                     now: datetime) -> int:
    """The cases registered in ``arrived`` are held now: what came down for them before
    goes on toward their origin. Returns how many items were queued."""
    cases = {e.case_id for e in arrived if e.type == "registered"}
    parked = store.take_unrouted(session, cases) if cases else []
    return send_all_down(session, site, [(e, None) for e in parked], now) if parked else 0
