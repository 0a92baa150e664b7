"""What the hub does with the events the exchange stored: keep every case's projection and
route the cases it decides.

A case's deciding site is found from the registry (:func:`hub.sites.path_up`) and the item's
tier (:func:`shared.case_work.owner_of`). When the hub owns the case, the registration's
arrival puts it in its window's queue (``received`` + ``routed``), and events from below that
the case no longer allows are answered with a ``refused`` event; cases a township or county
decides are only projected: the hub supervises every case of the city.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.sites import path_up, touch
from shared import case_work
from shared.case_state import CaseState, fold
from shared.catalogue import Catalogue
from shared.errors import DomainError
from shared.exchange import SyncSite
from shared.window_api import QueueEntry
from sync_protocol import Event, Receipt, Release
from sync_protocol.times import to_ms

HUB_TIER = "city"


def project(session: Session, site: SyncSite, case_id: uuid.UUID, state: CaseState,
            owner: str, now: datetime) -> HubCase:
    """Write the case's projection row from its folded state."""
    row = session.get(HubCase, case_id)
    registered = state.registered_at or now
    if row is None:
        row = HubCase(case_id=case_id, acceptance_no="", origin=state.origin_site or "",
                      item_code=state.item_code or "", kind=str(state.kind or ""),
                      window=state.window or "", owner_site=owner, state="", stage="",
                      registered_ms=to_ms(registered), updated_ms=to_ms(now))
        session.add(row)
    row.state = state.state.value
    row.stage = state.stage
    row.kind = str(state.kind.value if state.kind else "")
    row.window = state.window or row.window
    row.owner_site = owner
    row.open = 0 if state.is_closed and state.result_issued_at is not None else 1
    if state.outcome is not None and state.state.value in ("withdrawn",):
        row.open = 0
    row.claimed_by = state.claimed_by
    row.updated_ms = to_ms(now)
    return row


def deadline_ms(session: Session, site: SyncSite, case_id: uuid.UUID) -> int | None:
    """The due time published with the acceptance (the newest one), if any."""
    due: int | None = None
    for event in case_work.case_events(session, site, case_id):
        value = event.payload.get("deadline")
        if isinstance(value, str):
            due = to_ms(datetime.fromisoformat(value))
    return due


def refresh(session: Session, site: SyncSite, case_id: uuid.UUID, owner: str,
            now: datetime) -> HubCase:
    state = case_work.case_state(session, site, case_id)
    row = project(session, site, case_id, state, owner, now)
    row.due_ms = deadline_ms(session, site, case_id)
    return row


class HubHooks:
    """The hub's reaction to what arrives from its children."""

    def __init__(self, site: Callable[[], SyncSite], catalogue: Callable[[], Catalogue]) -> None:
        self._site = site
        self._catalogue = catalogue

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        site = self._site()
        by_case: dict[uuid.UUID, list[Event]] = {}
        for event in events:
            by_case.setdefault(event.case_id, []).append(event)
            touch(session, event.origin, now)
        for case_id, arrived in by_case.items():
            self._case_arrived(session, site, case_id, arrived, now)

    def _case_arrived(self, session: Session, site: SyncSite, case_id: uuid.UUID,
                      arrived: list[Event], now: datetime) -> None:
        events = case_work.case_events(session, site, case_id)
        if not events or events[0].type.value != "registered":
            return  # the registration has not reached the city yet: nothing to route
        origin = events[0].origin
        item_code = str(events[0].payload.get("item_code", ""))
        try:
            item = self._catalogue().item(item_code)
        except DomainError:
            return  # an item this catalogue does not know: kept, shown in the site map
        owner = case_work.owner_of(item, path_up(session, origin) or [(site.code, HUB_TIER)])
        new_keys = {(e.origin, e.epoch, e.seq) for e in arrived}
        if owner == site.code:
            before = [e for e in events if e.key not in new_keys]
            state = fold(before) if before else CaseState()
            for event in events:
                if event.key in new_keys:
                    state = case_work.admit_arrived(session, site, HUB_TIER, case_id, event,
                                                    state, now)
            if any(e.type == "registered" for e in arrived) and state.state.value in (
                "registered",
            ):
                case_work.route_arrived(session, site, self._catalogue(), HUB_TIER, case_id,
                                        now)
        row = refresh(session, site, case_id, owner, now)
        row.acceptance_no = str(events[0].payload.get("acceptance_no", row.acceptance_no))

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        return None

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        return None

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        return None


class HubWindowStore:
    """The hub's window queues, read from ``hub_cases`` (index on owner, window, open, due)."""

    def __init__(self, site: Callable[[], SyncSite]) -> None:
        self._site = site

    def queue(self, session: Session, window: str, limit: int) -> list[QueueEntry]:
        site = self._site()
        rows = session.scalars(
            select(HubCase)
            .where(HubCase.owner_site == site.code, HubCase.window == window,
                   HubCase.open == 1)
            .order_by(HubCase.due_ms.is_(None), HubCase.due_ms, HubCase.registered_ms)
            .limit(limit)
        )
        return [QueueEntry(r.case_id, r.acceptance_no, r.item_code, r.state, r.stage,
                           r.claimed_by, r.due_ms) for r in rows]

    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None:
        site = self._site()
        row = session.get(HubCase, case_id)
        owner = row.owner_site if row is not None else site.code
        refresh(session, site, case_id, owner, now)
