"""The queue table a deciding site keeps (:mod:`shared.deciding.case_projection`), on SQLite and
PostgreSQL: what the sync hook projects and routes when a village's events arrive, and the
order a window's queue shows its open cases in.

The table is made from the module's own column set and queue index, on a registry of the
test's own (the apps' ``hub_cases`` and ``node_window_cases`` are made the same way).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from shared.deciding import case_work
from shared.deciding.case_projection import (
    CaseProjectionColumns,
    DecidingHooks,
    ProjectionStore,
    queue_index,
)
from shared.deciding.window_context import QueueEntry, WindowContext
from shared.domain.case_events import Actor
from shared.domain.case_state import CaseState
from shared.domain.catalogue import ServiceItem
from shared.domain.window_workflow import ActionRequest
from shared.storage.accounts import hash_password, import_credentials
from sync_protocol import Event
from sync_protocol.times import to_ms
from tests.shared.deciding.test_case_work import (
    CALENDAR,
    CATALOGUE,
    CITY,
    CITY_ITEM,
    CITY_WINDOW,
    NOW,
    PASSWORD,
    TOWNSHIP,
    TOWNSHIP_ITEM,
    TOWNSHIP_WINDOW,
    VILLAGE,
    Village,
    arrive,
    create_tables,
    deciding_site,
    operator,
    route,
    types_of,
)


class _Tables(DeclarativeBase):
    """A registry of the tests' own: the table never joins the apps' metadata."""


class WindowCase(CaseProjectionColumns, _Tables):
    """A deciding site's projection, as the apps declare theirs."""

    __tablename__ = "test_window_cases"
    __table_args__ = (queue_index("test_window_cases"),)


PATH_UP = [(VILLAGE, "village"), (TOWNSHIP, "township"), (CITY, "city")]
"""The village's way up: no county centre stands between the township and the city."""


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


class Desk:
    """A deciding site (the hub or the township) with its projection, its sync hook and the
    context its windows run in; a village below it registers the cases."""

    def __init__(self, engine: Engine, code: str = CITY) -> None:
        create_tables(engine)
        _Tables.metadata.create_all(engine)
        self.factory = sessionmaker(engine, expire_on_commit=False)
        self.site = deciding_site(code)
        self.tier = "city" if code == CITY else "township"
        self.clock = Clock(NOW)
        self.catalogue = CATALOGUE
        self.village = Village()
        self.store = ProjectionStore(WindowCase, lambda: self.site)
        self.hooks = DecidingHooks(site=lambda: self.site, catalogue=lambda: self.catalogue,
                                   tier=self.tier, model=WindowCase, owner=self.owner)
        self.ctx = WindowContext(site=self.site, tier=self.tier,
                                 catalogue=lambda: self.catalogue, calendar=lambda: CALENDAR,
                                 store=self.store, clock=self.clock)
        with self.factory() as session:
            self.village.certify(session)
            session.commit()

    @property
    def code(self) -> str:
        return self.site.code

    def owner(self, session: Session, cases: Sequence[tuple[str, ServiceItem]]) -> list[str]:
        """The hub's rule: the nearest site of the item's tier on the village's way up."""
        return [case_work.owner_of(item, PATH_UP) for _, item in cases]

    def arrive(self, *events: Event) -> list[Event]:
        """One exchange's events: stored, then handed to the hook, in one transaction."""
        with self.factory() as session:
            stored = arrive(session, self.site, list(events))
            self.hooks.events_arrived(session, stored, self.clock())
            session.commit()
        return stored

    def register(self, item: str = CITY_ITEM, at: datetime | None = None,
                 window: str | None = None) -> uuid.UUID:
        registration = self.village.register(item, at or self.clock(), window)
        self.arrive(registration)
        return registration.case_id

    def act(self, actor: Actor, case_id: uuid.UUID, action: str, **fields: Any) -> CaseState:
        """One window action and the projection's refresh, as the window API does them."""
        with self.factory() as session:
            state = case_work.act(session, self.site, self.catalogue, CALENDAR, actor, case_id,
                                  ActionRequest(action, **fields), self.clock())
            self.store.refresh(session, case_id, self.clock())
            session.commit()
        return state

    def queue(self, window: str, limit: int = 50) -> list[QueueEntry]:
        with self.factory() as session:
            return self.store.queue(session, window, limit)

    def claimed(self, window: str, username: str, limit: int = 50) -> list[QueueEntry]:
        with self.factory() as session:
            return self.store.claimed(session, window, username, limit)

    def row(self, case_id: uuid.UUID) -> WindowCase | None:
        with self.factory() as session:
            return session.get(WindowCase, case_id)

    def types(self, case_id: uuid.UUID, origin: str | None = None) -> list[str]:
        with self.factory() as session:
            return types_of(session, case_id, origin)

    def add_staff(self, users: Sequence[tuple[str, str, str | None]],
                  inactive: Sequence[str] = (), site: str | None = None) -> None:
        """Accounts ``(username, role, window)`` of this site (or of ``site``), as a node
        keeps the hub's copies (the argon2 hash of :data:`PASSWORD` is made once)."""
        with self.factory() as session:
            import_credentials(session, [
                {"username": username, "password_hash": _password_hash(), "role": role,
                 "site": site or self.code, "window": window, "department": None,
                 "active": username not in inactive, "revision": 1}
                for username, role, window in users], NOW)
            session.commit()


@pytest.fixture
def hub(db_engine: Engine) -> Desk:
    return Desk(db_engine)


@pytest.fixture
def township(db_engine: Engine) -> Desk:
    return Desk(db_engine, TOWNSHIP)


def _ids(entries: Sequence[QueueEntry]) -> list[uuid.UUID]:
    return [e.case_id for e in entries]


# -- what arrives -------------------------------------------------------------------------------


def test_the_township_routes_its_own_items_and_only_keeps_the_citys(township: Desk) -> None:
    """A township item is received and routed to the township's window and waits in its
    queue; a city item passing through is kept (and projected) but neither routed nor
    queued here."""
    own = township.register(TOWNSHIP_ITEM)
    passing = township.register(CITY_ITEM)

    assert township.types(own, TOWNSHIP) == ["received", "routed"]
    assert township.types(passing, TOWNSHIP) == []
    [entry] = township.queue(TOWNSHIP_WINDOW)
    assert (entry.case_id, entry.item_code, entry.state, entry.stage, entry.claimed_by) == (
        own, TOWNSHIP_ITEM, "routed", "at_window", None)
    assert entry.acceptance_no == f"{VILLAGE}-20260302-0001"
    assert township.queue(CITY_WINDOW) == []
    row = township.row(passing)
    assert row is not None and (row.owner_site, row.state, row.window) == (
        CITY, "registered", CITY_WINDOW)


def test_the_hub_keeps_every_case_but_queues_only_those_it_decides(hub: Desk) -> None:
    """A township's case reaches the hub's projection under its owner; it stays out of the
    hub's queues, even after the hub refreshes it."""
    township_case = hub.register(TOWNSHIP_ITEM)
    city_case = hub.register(CITY_ITEM)

    assert hub.types(township_case, CITY) == []
    assert _ids(hub.queue(CITY_WINDOW)) == [city_case]
    assert hub.queue(TOWNSHIP_WINDOW) == []
    with hub.factory() as session:
        hub.store.refresh(session, township_case, NOW + timedelta(hours=1))
        session.commit()
    row = hub.row(township_case)
    assert row is not None and row.owner_site == TOWNSHIP
    assert hub.queue(TOWNSHIP_WINDOW) == []


def test_a_batch_is_routed_once_and_a_late_event_refused_once(township: Desk) -> None:
    """A registration arriving with an event its case does not allow is routed once and the
    event answered once; the same batch sent again changes nothing."""
    village = township.village
    registration = village.register(TOWNSHIP_ITEM)
    late = village.author(registration.case_id, "supplement_provided",
                          {"provided": ["ID_CARD"]}, NOW)
    assert township.arrive(registration, late) == [registration, late]
    assert township.arrive(registration, late) == []  # the exchange retried

    types = township.types(registration.case_id, TOWNSHIP)
    assert sorted(types) == ["received", "refused", "routed"]
    assert _ids(township.queue(TOWNSHIP_WINDOW)) == [registration.case_id]
    assert township.queue(TOWNSHIP_WINDOW)[0].state == "routed"


def test_a_withdrawal_from_the_village_takes_the_case_off_the_queue(township: Desk) -> None:
    case_id = township.register(TOWNSHIP_ITEM)
    desk = operator("t-review", TOWNSHIP_WINDOW, TOWNSHIP, "township")
    township.act(desk, case_id, "claim")
    township.arrive(township.village.author(case_id, "withdrawn", {"reason": "申请人撤回"}, NOW))

    assert township.queue(TOWNSHIP_WINDOW) == []
    assert township.claimed(TOWNSHIP_WINDOW, "t-review") == []
    row = township.row(case_id)
    assert row is not None and (row.state, row.open) == ("withdrawn", 0)


# -- the queue ----------------------------------------------------------------------------------


def test_the_queue_runs_by_deadline_then_registration_with_claims_in_place(hub: Desk) -> None:
    """Open cases of the window at this site, nearest deadline first (cases not yet
    accepted last), ties by registration; claimed cases stay at their place with their
    holder, and each operator's own list keeps the same order."""
    a, b, c, d, e = (hub.register(at=NOW + timedelta(minutes=10 * n)) for n in range(5))
    elsewhere = hub.register("NY-3301")  # another window of the hub
    first, second = operator("mz-1", CITY_WINDOW), operator("mz-2", CITY_WINDOW)
    hub.act(first, a, "claim")
    hub.clock.now = NOW + timedelta(days=1)
    for case_id in (d, c):
        hub.act(first, case_id, "claim")
        hub.act(first, case_id, "accept")
    hub.clock.now = NOW + timedelta(days=3)
    hub.act(second, b, "claim")
    hub.act(second, b, "accept")

    queue = hub.queue(CITY_WINDOW)
    assert _ids(queue) == [c, d, b, a, e]
    assert [q.claimed_by for q in queue] == ["mz-1", "mz-1", "mz-2", "mz-1", None]
    assert [q.state for q in queue] == ["accepted", "accepted", "accepted", "routed", "routed"]
    early = CALENDAR.deadline(NOW + timedelta(days=1), 20).due_at
    late = CALENDAR.deadline(NOW + timedelta(days=3), 20).due_at
    assert early is not None and late is not None
    assert [q.due_ms for q in queue] == [to_ms(early), to_ms(early), to_ms(late), None, None]
    assert _ids(hub.queue(CITY_WINDOW, limit=2)) == [c, d]
    assert _ids(hub.claimed(CITY_WINDOW, "mz-1")) == [c, d, a]
    assert _ids(hub.claimed(CITY_WINDOW, "mz-1", limit=1)) == [c]
    assert _ids(hub.claimed(CITY_WINDOW, "mz-2")) == [b]
    assert _ids(hub.queue("W-NY-01")) == [elsewhere]


def test_a_case_whose_result_is_issued_leaves_the_queue(hub: Desk) -> None:
    case_id, waiting = hub.register(), hub.register()
    review, check = operator("mz-1", CITY_WINDOW), operator("mz-2", CITY_WINDOW)
    for actor, action in ((review, "claim"), (review, "accept"), (review, "approve"),
                          (check, "claim"), (check, "check"), (check, "issue_result")):
        hub.act(actor, case_id, action)

    assert _ids(hub.queue(CITY_WINDOW)) == [waiting]
    assert hub.claimed(CITY_WINDOW, "mz-2") == []
    row = hub.row(case_id)
    assert row is not None and (row.state, row.open) == ("result_issued", 0)


def test_a_row_read_earlier_in_the_request_shows_the_refreshed_case(hub: Desk) -> None:
    """A page that read the case's row before acting shows the row after the action, not
    what the session held; the registration time is the case's own."""
    case_id = hub.register()
    with hub.factory() as session:
        row = session.get(WindowCase, case_id)
        assert row is not None and row.claimed_by is None
        later = NOW + timedelta(hours=3)
        case_work.act(session, hub.site, CATALOGUE, CALENDAR, operator("mz-1", CITY_WINDOW),
                      case_id, ActionRequest("claim"), later)
        hub.store.refresh(session, case_id, later)
        assert (row.claimed_by, row.updated_ms, row.registered_ms) == (
            "mz-1", to_ms(later), to_ms(NOW))
        session.commit()
    assert [(r.case_id, r.claimed_by) for r in _all_rows(hub)] == [(case_id, "mz-1")]


def _all_rows(desk: Desk) -> list[WindowCase]:
    with desk.factory() as session:
        return list(session.scalars(select(WindowCase)))


def test_a_case_routed_again_by_a_restored_hub_is_projected_not_refused(
    township: Desk,
) -> None:
    """A hub restored from an older backup routes again, in its new epoch, a case it had
    routed before the restore. The township holds both routings: its view of the hub's case
    stays routed, and the exchange that brought the second one is not stopped by it."""
    registration = township.village.register(CITY_ITEM, NOW)
    township.arrive(registration)
    routings: list[list[Event]] = []
    for epoch in (1, 2):  # the hub before the backup was restored, then after
        hub_engine = create_engine("sqlite://")
        create_tables(hub_engine)
        with Session(hub_engine) as session:
            township.village.certify(session)
            hub_site = replace(deciding_site(CITY), epoch=epoch)
            arrive(session, hub_site, [registration])
            routings.append(route(session, hub_site, "city", registration.case_id))
            session.commit()
        hub_engine.dispose()
    for routing in routings:
        township.arrive(*routing)

    assert township.types(registration.case_id, CITY) == ["received", "routed"] * 2
    row = township.row(registration.case_id)
    assert row is not None and (row.owner_site, row.state) == (CITY, "routed")
