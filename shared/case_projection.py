"""Where each case stands at a deciding site, and what that site does when events arrive.

The hub (``hub_cases``) and the deciding township and county nodes (``node_window_cases``)
keep the same projection, folded from the event store on every change; window queues read
it. :class:`DecidingHooks` is the sync layer's hook for such a site: for each case touched by
an exchange it refreshes the projection and, when this site owns the case, routes a newly
arrived registration to its window and answers events the case no longer allows with a
``refused`` event. Who owns a case is the site's to say (:class:`OwnerRule`): the hub asks its
registry of the tree, a node compares the item's tier with its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, Index, Integer, String, Uuid, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import case_work
from shared.case_state import CaseState, fold
from shared.catalogue import Catalogue, ServiceItem
from shared.errors import DomainError
from shared.exchange import NoHooks, SyncSite
from shared.window_api import QueueEntry
from sync_protocol import Event
from sync_protocol.times import to_ms


class CaseProjectionColumns:
    """The columns of a projection table (mixed into each app's model)."""

    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    acceptance_no: Mapped[str] = mapped_column(String(40), index=True)
    origin: Mapped[str] = mapped_column(String(15), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    window: Mapped[str] = mapped_column(String(40))
    owner_site: Mapped[str] = mapped_column(String(15))
    state: Mapped[str] = mapped_column(String(30))
    stage: Mapped[str] = mapped_column(String(40))
    open: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    registered_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


ProjectionModel = type[CaseProjectionColumns]


def queue_index(table: str) -> Index:
    """The index a window's queue reads in order: open cases of one window of one site by
    deadline (none last), then registration; partial, so closed cases cost nothing."""
    return Index(f"ix_{table}_open_queue", "owner_site", "window", "due_ms", "registered_ms",
                 postgresql_where=text("open = 1"), sqlite_where=text("open = 1"))


def project(session: Session, model: ProjectionModel, case_id: uuid.UUID, state: CaseState,
            owner: str, acceptance_no: str, due_ms: int | None,
            now: datetime) -> CaseProjectionColumns:
    """Write the case's projection row from its folded state."""
    row = session.get(model, case_id)
    if row is None:
        registered = state.registered_at or now
        row = model()
        row.case_id = case_id
        row.origin = state.origin_site or ""
        row.item_code = state.item_code or ""
        row.registered_ms = to_ms(registered)
        session.add(row)
    row.acceptance_no = acceptance_no
    row.state = state.state.value
    row.stage = state.stage
    row.kind = state.kind.value if state.kind else ""
    row.window = state.window or ""
    row.owner_site = owner
    row.open = 0 if state.state.value == "withdrawn" or state.result_issued_at else 1
    row.claimed_by = state.claimed_by
    row.due_ms = due_ms
    row.updated_ms = to_ms(now)
    return row


def refresh(session: Session, model: ProjectionModel, site: SyncSite, case_id: uuid.UUID,
            owner: str, now: datetime) -> CaseProjectionColumns:
    """Fold the case's events and write its projection."""
    events = case_work.case_events(session, site, case_id)
    state = fold(events)
    due: int | None = None
    for event in events:
        value = event.payload.get("deadline")
        if isinstance(value, str):
            due = to_ms(datetime.fromisoformat(value))
    acceptance_no = str(events[0].payload.get("acceptance_no", "")) if events else ""
    return project(session, model, case_id, state, owner, acceptance_no, due, now)


class ProjectionStore:
    """A deciding site's window queues over its projection table."""

    def __init__(self, model: ProjectionModel, site: Callable[[], SyncSite]) -> None:
        self.model = model
        self._site = site

    def queue(self, session: Session, window: str, limit: int) -> list[QueueEntry]:
        m = self.model
        rows = session.scalars(
            select(m)
            .where(m.owner_site == self._site().code, m.window == window, m.open == 1)
            .order_by(m.due_ms.asc().nulls_last(), m.registered_ms)
            .limit(limit)
        )
        return [QueueEntry(r.case_id, r.acceptance_no, r.item_code, r.state, r.stage,
                           r.claimed_by, r.due_ms) for r in rows]

    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None:
        site = self._site()
        row = session.get(self.model, case_id)
        owner = row.owner_site if row is not None else site.code
        refresh(session, self.model, site, case_id, owner, now)


class OwnerRule(Protocol):
    """Which site decides a case of ``item`` registered at ``origin``."""

    def __call__(self, session: Session, origin: str, item: ServiceItem) -> str: ...


class DecidingHooks(NoHooks):
    """The sync hooks of a site with windows: project every case, route the ones it owns."""

    def __init__(self, *, site: Callable[[], SyncSite], catalogue: Callable[[], Catalogue],
                 tier: str, model: ProjectionModel, owner: OwnerRule,
                 also: Callable[[Session, set[uuid.UUID], datetime], None] | None = None
                 ) -> None:
        self._site = site
        self._catalogue = catalogue
        self.tier = tier
        self.model = model
        self._owner = owner
        self._also = also

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        site = self._site()
        by_case: dict[uuid.UUID, list[Event]] = {}
        for event in events:
            by_case.setdefault(event.case_id, []).append(event)
        for case_id, arrived in by_case.items():
            self._case_arrived(session, site, case_id, arrived, now)
        if self._also is not None:
            self._also(session, set(by_case), now)

    def _case_arrived(self, session: Session, site: SyncSite, case_id: uuid.UUID,
                      arrived: list[Event], now: datetime) -> None:
        events = case_work.case_events(session, site, case_id)
        if not events or events[0].type.value != "registered":
            return  # the registration has not arrived yet (or never passes this site)
        item_code = str(events[0].payload.get("item_code", ""))
        try:
            item = self._catalogue().item(item_code)
        except DomainError:
            return  # an item this catalogue does not know: the events are kept
        owner = self._owner(session, events[0].origin, item)
        if owner == site.code:
            new_keys = {(e.origin, e.epoch, e.seq) for e in arrived}
            before = [e for e in events if e.key not in new_keys]
            state = fold(before) if before else CaseState()
            for event in events:
                if event.key in new_keys:
                    state = case_work.admit_arrived(session, site, self.tier, case_id, event,
                                                    state, now)
            if state.state.value == "registered":
                case_work.route_arrived(session, site, self._catalogue(), self.tier, case_id,
                                        now)
        refresh(session, self.model, site, case_id, owner, now)
