"""A deciding site's work on a stored case (:mod:`shared.deciding.case_work`), on SQLite and
PostgreSQL.

The cases are real: a village signs each registration on its own chain, the deciding site
(the hub, or a township node) stores it as an exchange does and records its own events as
signed events of its chain. Every action runs through the window workflow; a refused one
must leave the store exactly as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.domain.case_events import Actor, EventActor, Role
from shared.domain.case_state import CaseState, Status, fold
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.errors import DomainError, NotFound, NotPermitted, Problems, StateConflict
from shared.domain.window_workflow import ActionRequest
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.storage import sync_store
from shared.storage.accounts import add_user, set_active
from shared.storage.db import Base
from sync_protocol import ChainHead, Event, SiteKey, append_event, generate_key
from sync_protocol.audit import verify_store
from sync_protocol.credentials import issue_certificate
from sync_protocol.keyring import KeyRing
from sync_protocol.messages import LinkPosition
from sync_protocol.times import to_ms

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
CITY, COUNTY, TOWNSHIP, VILLAGE = "431000", "431002", "431002001", "431002001201"
CITY_ITEM, CITY_WINDOW = "MZ-0520", "W-MZ-01"  # 社会团体成立登记: 20 working days, at the city
TOWNSHIP_ITEM, TOWNSHIP_WINDOW = "MZ-0305", "W-MZ-11"  # 临时救助申请: 5 working days
COUNTY_ITEM, COUNTY_WINDOW = "MZ-0101", "W-MZ-02"  # 最低生活保障: a county item, 20 days
CATALOGUE = load_sample_catalogue()
CALENDAR = WorkingDayCalendar.standard()
PASSWORD = "correct horse battery"
HUB_KEY = generate_key(CITY)
TOWNSHIP_KEY = generate_key(TOWNSHIP)
FORM = {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
        "business_scope": "摄影交流与培训"}


# -- a deciding site and a village below it (used by the other tests of this package) ------


def create_tables(engine: Engine) -> None:
    """The ``sync_`` and ``acct_`` tables every site has, from the real models."""
    tables = [table for name, table in Base.metadata.tables.items()
              if name.startswith(("sync_", "acct_"))]
    Base.metadata.create_all(engine, tables=tables)


def deciding_site(code: str = CITY) -> SyncSite:
    """The hub (the root of the tree) or the township node below it, with its signing key."""
    if code == CITY:
        return SyncSite(key=HUB_KEY, hub_site=CITY, hub_public_raw=HUB_KEY.public_raw,
                        sealer=sync_store.PlainPayloads(), root=True)
    assert code == TOWNSHIP
    return SyncSite(key=TOWNSHIP_KEY, hub_site=CITY, hub_public_raw=HUB_KEY.public_raw,
                    sealer=sync_store.PlainPayloads(), parent=CITY)


class Village:
    """A village's front desk: it registers cases and adds to them on its own signed chain."""

    def __init__(self, code: str = VILLAGE) -> None:
        self.key: SiteKey = generate_key(code)
        self.head = ChainHead.genesis(code, 1)
        self.numbers = 0

    @property
    def code(self) -> str:
        return self.key.site

    def certify(self, session: Session) -> None:
        """What the hub certified: this village under the township, the township under the
        city (the way down to the village from either deciding site)."""
        sync_store.add_credentials(session, [
            issue_certificate(HUB_KEY, site=TOWNSHIP, parent=CITY, tier="township",
                              public_raw=TOWNSHIP_KEY.public_raw, now=NOW),
            issue_certificate(HUB_KEY, site=self.code, parent=TOWNSHIP, tier="village",
                              public_raw=self.key.public_raw, now=NOW),
        ], forward=False)

    def keyring(self) -> KeyRing:
        """The keys an auditor checks this tree's chains with."""
        ring = KeyRing(CITY, HUB_KEY.public_raw)
        ring.add(issue_certificate(HUB_KEY, site=TOWNSHIP, parent=CITY, tier="township",
                                   public_raw=TOWNSHIP_KEY.public_raw, now=NOW))
        ring.add(issue_certificate(HUB_KEY, site=self.code, parent=TOWNSHIP, tier="village",
                                   public_raw=self.key.public_raw, now=NOW))
        return ring

    def author(self, case_id: uuid.UUID, type_: str, payload: dict[str, Any],
               at: datetime) -> Event:
        event = append_event(self.head, self.key, case_id=case_id, actor="agent:li", at=at,
                             type=type_, payload=payload)
        self.head = event.head
        return event

    def register(self, item_code: str, at: datetime = NOW,
                 window: str | None = None) -> Event:
        """A registration of ``item_code`` for the item's window (or ``window``)."""
        item = CATALOGUE.item(item_code)
        self.numbers += 1
        case_id = uuid.uuid4()
        payload = {
            "case_id": str(case_id),
            "acceptance_no": f"{self.code}-{at:%Y%m%d}-{self.numbers:04d}",
            "item_code": item.code, "catalogue_version": CATALOGUE.version,
            "kind": str(item.kind), "window": window or item.window, "delivery": "village",
            "applicant": {"kind": "person", "name": "李四", "id_number": "11010519491231002X",
                          "phone": "13800138000"},
            "form": FORM,
            "materials": [{"code": "APPLICATION", "sha256": "ab" * 32, "size": 245_760,
                           "media_type": "application/pdf"}],
        }
        return self.author(case_id, "registered", payload, at)


def arrive(session: Session, site: SyncSite, events: list[Event]) -> list[Event]:
    """Store what an exchange brought, as the exchange does (relayed up below the hub)."""
    return sync_store.store_received_many(session, site.sealer, events, up=not site.is_root,
                                          now_ms=to_ms(NOW))


def route(session: Session, site: SyncSite, tier: str, case_id: uuid.UUID,
          now: datetime = NOW) -> list[Event]:
    """The owner's ``received`` and ``routed`` for a registration it holds."""
    state = case_work.case_state(session, site, case_id)
    drafts = case_work.route_drafts(site, tier, state, now)
    return case_work.append_drafts(session, site, case_id, drafts, now, state.origin_site)


def operator(name: str, window: str, site: str = CITY, tier: str = "city") -> Actor:
    return Actor(name, Role.WINDOW_OPERATOR, site, tier, window=window,
                 department=CATALOGUE.window(window).department)


def do(session: Session, site: SyncSite, actor: Actor, case_id: uuid.UUID, action: str,
       now: datetime = NOW, **fields: Any) -> CaseState:
    return case_work.act(session, site, CATALOGUE, CALENDAR, actor, case_id,
                         ActionRequest(action, **fields), now)


def stored_counts(session: Session) -> tuple[int, ...]:
    """Rows of the event store, the queue up and the streams down."""
    return tuple(
        int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (sync_store.SyncEvent, sync_store.SyncOutbox, sync_store.SyncDown))


def types_of(session: Session, case_id: uuid.UUID, origin: str | None = None) -> list[str]:
    """The case's stored event types in the site's order (of one origin, if given)."""
    return [row.type for row in sync_store.case_rows(session, case_id)
            if origin is None or row.origin == origin]


def down_types(session: Session, child: str) -> list[str]:
    items = sync_store.down_after(session, child, LinkPosition(), 100)
    return [item.item.type for item in items if isinstance(item.item, Event)]


def up_types(session: Session) -> list[tuple[str, str]]:
    return [(e.origin, e.type) for e in sync_store.pending_up(session, sync_store.PlainPayloads(),
                                                               100)]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def engine(db_engine: Engine) -> Engine:
    create_tables(db_engine)
    return db_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as opened:
        yield opened


@pytest.fixture
def village() -> Village:
    return Village()


@pytest.fixture
def hub() -> SyncSite:
    return deciding_site(CITY)


def routed_case(session: Session, site: SyncSite, village: Village, item: str = CITY_ITEM,
                tier: str = "city", at: datetime = NOW) -> uuid.UUID:
    village.certify(session)
    registration = village.register(item, at)
    arrive(session, site, [registration])
    route(session, site, tier, registration.case_id, at)
    session.commit()
    return registration.case_id


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "tier", "item", "window", "up", "child"), [
    (TOWNSHIP, "township", TOWNSHIP_ITEM, TOWNSHIP_WINDOW,
     [(VILLAGE, "registered"), (TOWNSHIP, "received"), (TOWNSHIP, "routed"),
      (TOWNSHIP, "claimed")], VILLAGE),
    (CITY, "city", CITY_ITEM, CITY_WINDOW, [], TOWNSHIP),
], ids=["township", "hub"])
def test_an_arrived_registration_is_routed_to_the_window_of_its_item_at_the_owner(
        session: Session, village: Village, code: str, tier: str, item: str, window: str,
        up: list[tuple[str, str]], child: str) -> None:
    """The owner receives the case and routes it to its item's window at this site; what it
    authors goes up to the city (the hub keeps it) and down toward the village."""
    site = deciding_site(code)
    village.certify(session)
    registration = village.register(item)
    stored = arrive(session, site, [registration])
    logs = case_work.many_case_events(session, site.sealer, stored)
    drafts = case_work.route_drafts(site, tier, fold(logs[registration.case_id]), NOW)
    authored = case_work.append_all(
        session, site, [case_work.CaseDrafts(registration.case_id, drafts, village.code)], NOW)
    do(session, site, operator("desk-a", window, code, tier), registration.case_id, "claim")
    session.commit()

    assert [(e.origin, e.type) for e in authored] == [(code, "received"), (code, "routed")]
    assert authored[1].payload == {"window": window, "site": code}
    state = case_work.case_state(session, site, registration.case_id)
    assert (state.state, state.window, state.site, state.received_tier) == (
        Status.ROUTED, window, code, tier)
    assert state.claimed_by == "desk-a"
    assert up_types(session) == up
    assert down_types(session, child) == ["received", "routed", "claimed"]
    rows = sorted(session.scalars(select(sync_store.SyncEvent)),
                  key=lambda r: (r.origin, r.epoch, r.seq))
    audit = verify_store([sync_store.as_event(r, site.sealer) for r in rows], village.keyring())
    assert audit.ok and audit.events == 4, audit.problems


@pytest.mark.parametrize(("item", "path", "owner"), [
    (TOWNSHIP_ITEM, [(VILLAGE, "village"), (TOWNSHIP, "township"), (CITY, "city")], TOWNSHIP),
    (COUNTY_ITEM, [(VILLAGE, "village"), (TOWNSHIP, "township"), (COUNTY, "county"),
                   (CITY, "city")], COUNTY),
    (COUNTY_ITEM, [(VILLAGE, "village"), (TOWNSHIP, "township"), (CITY, "city")], CITY),
    (CITY_ITEM, [(VILLAGE, "village"), (TOWNSHIP, "township"), (CITY, "city")], CITY),
    ("ZR-1102", [(VILLAGE, "village"), (TOWNSHIP, "township"), (CITY, "city")], CITY),
], ids=["township", "county", "county-without-centre", "city", "external"])
def test_the_owner_is_the_nearest_site_of_the_items_tier(
        item: str, path: list[tuple[str, str]], owner: str) -> None:
    """A case is decided by the nearest site of its item's tier on the way up; the hub takes
    what no such site stands between (and the external items it reviews)."""
    assert case_work.owner_of(CATALOGUE.item(item), path) == owner


def test_a_county_item_is_worked_at_the_hub_where_no_county_centre_stands_between(
        session: Session, hub: SyncSite, village: Village) -> None:
    """The hub's operators of a county item's window work it as a city window; a site below
    an item's tier never takes it over, and external items keep their own rules."""
    _, at_hub = case_work.item_rules(CATALOGUE, COUNTY_ITEM, "city")
    _, at_county = case_work.item_rules(CATALOGUE, COUNTY_ITEM, "county")
    assert (at_hub.window, at_hub.window_tier, at_hub.deciding_tier) == (
        COUNTY_WINDOW, "city", "city")
    assert (at_county.window_tier, at_county.deciding_tier) == ("county", "county")
    assert case_work.item_rules(CATALOGUE, CITY_ITEM, "township")[1].window_tier == "city"
    assert (case_work.item_rules(CATALOGUE, "ZR-1102", "city")
            == case_work.item_rules(CATALOGUE, "ZR-1102"))

    case_id = routed_case(session, hub, village, COUNTY_ITEM)
    desk = operator("mz02-a", COUNTY_WINDOW)
    do(session, hub, desk, case_id, "claim")
    accepted = do(session, hub, desk, case_id, "accept")
    assert accepted.state is Status.ACCEPTED and accepted.claimed_by == "mz02-a"


# -- reading a case's log ---------------------------------------------------------------------


def test_the_logs_of_a_batch_are_what_the_store_holds(session: Session, hub: SyncSite,
                                                     village: Village) -> None:
    """The cases an exchange touched are read in one go, a fresh registration from the batch
    itself, a known case from the store; either way the log is the one the site holds,
    in its order, without the site-local bookkeeping events."""
    known = routed_case(session, hub, village)
    fresh = village.register(CITY_ITEM, NOW + timedelta(minutes=5))
    batch = [
        village.author(known, "material_added", {"code": "ID_CARD"}, NOW),
        fresh,
        village.author(known, "originals_dispatched", {"list": "L-1"}, NOW),
        village.author(fresh.case_id, "material_added", {"code": "ID_CARD"}, NOW),
    ]
    stored = arrive(session, hub, batch)
    logs = case_work.many_case_events(session, hub.sealer, stored)
    session.commit()

    assert set(logs) == {known, fresh.case_id}
    assert [e.type.value for e in logs[known]] == [
        "registered", "received", "routed", "material_added"]
    assert [e.type.value for e in logs[fresh.case_id]] == ["registered", "material_added"]
    for case_id, log in logs.items():
        assert log == case_work.case_events(session, hub, case_id)
    assert logs[known][0].actor == EventActor("li", Role.AGENT)
    assert logs[fresh.case_id][0].payload["acceptance_no"] == f"{VILLAGE}-20260302-0002"
    assert types_of(session, known, VILLAGE) == [
        "registered", "material_added", "originals_dispatched"]  # kept, only not folded


# -- acting -------------------------------------------------------------------------------------


def test_an_operator_of_the_window_claims_and_the_site_signs_the_event(
        session: Session, hub: SyncSite, village: Village) -> None:
    """The claim is the site's own signed event, by the operator, and the case shows it."""
    case_id = routed_case(session, hub, village)
    state = do(session, hub, operator("mz-review", CITY_WINDOW), case_id, "claim")
    session.commit()

    assert state.claimed_by == "mz-review"
    assert case_work.case_state(session, hub, case_id).claimed_by == "mz-review"
    last = sync_store.case_rows(session, case_id)[-1]
    assert (last.origin, last.type, last.actor) == (CITY, "claimed", "window_operator:mz-review")
    rows = sorted(session.scalars(select(sync_store.SyncEvent)),
                  key=lambda r: (r.origin, r.epoch, r.seq))
    assert verify_store([sync_store.as_event(r, hub.sealer) for r in rows],
                        village.keyring()).ok


@pytest.mark.parametrize(("actor", "action", "error", "field"), [
    (operator("ny-desk", "W-NY-01"), "claim", NotPermitted, "window"),
    (operator("t-desk", CITY_WINDOW, TOWNSHIP, "township"), "claim", NotPermitted, "site"),
    (Actor("agent.li", Role.AGENT, CITY, "city"), "claim", NotPermitted, "role"),
    (Actor("city-lead", Role.SUPERVISOR, CITY, "city"), "accept", NotPermitted, "role"),
    (operator("mz-review", CITY_WINDOW), "accept", StateConflict, "claimed_by"),
    (operator("mz-review", CITY_WINDOW), "check", StateConflict, "state"),
], ids=["other-window", "other-site", "agent", "supervisor", "unclaimed", "state"])
def test_a_refused_action_writes_nothing(session: Session, hub: SyncSite, village: Village,
                                         actor: Actor, action: str, error: type[DomainError],
                                         field: str) -> None:
    """An action the workflow refuses names why and leaves the store, the queue up and the
    streams down exactly as they were (even before the caller rolls back)."""
    case_id = routed_case(session, hub, village)
    before = stored_counts(session)
    with pytest.raises(error) as refused:
        do(session, hub, actor, case_id, action)
    assert refused.value.field == field
    assert stored_counts(session) == before
    assert types_of(session, case_id) == ["registered", "received", "routed"]


def test_acting_on_a_case_the_site_does_not_hold_is_not_found(session: Session,
                                                              hub: SyncSite) -> None:
    with pytest.raises(NotFound) as missing:
        do(session, hub, operator("mz-review", CITY_WINDOW), uuid.uuid4(), "claim")
    assert missing.value.field == "case_id"
    assert stored_counts(session) == (0, 0, 0)


def test_accepting_starts_the_promised_working_days(session: Session, hub: SyncSite,
                                                    village: Village) -> None:
    """The acceptance carries the deadline the calendar gives for the item's promised days."""
    case_id = routed_case(session, hub, village)
    desk = operator("mz-review", CITY_WINDOW)
    do(session, hub, desk, case_id, "claim")
    accepted_at = NOW + timedelta(hours=2)
    do(session, hub, desk, case_id, "accept", accepted_at)
    session.commit()

    event = case_work.case_events(session, hub, case_id)[-1]
    expected = CALENDAR.deadline(accepted_at, 20).due_at
    assert expected is not None
    assert event.type.value == "accepted"
    assert datetime.fromisoformat(event.payload["deadline"]) == expected
    assert event.payload["promised_days"] == 20
    assert expected == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)  # the end of 30 March


def test_a_case_handed_on_keeps_the_deadline_of_its_first_acceptance(
        session: Session, hub: SyncSite, village: Village) -> None:
    """A preliminary window accepts, reviews and hands the case on; the deciding window
    accepts it again days later, and the applicant keeps the deadline first given."""
    case_id = routed_case(session, hub, village, "ZJ-1201")
    pre_1, pre_2 = operator("zj-pre-1", "W-ZJ-01"), operator("zj-pre-2", "W-ZJ-01")
    dec_1 = operator("zj-dec-1", "W-ZJ-04")
    do(session, hub, pre_1, case_id, "claim")
    do(session, hub, pre_1, case_id, "accept")
    do(session, hub, pre_1, case_id, "approve", NOW + timedelta(hours=1))
    do(session, hub, pre_2, case_id, "claim", NOW + timedelta(days=1))
    handed = do(session, hub, pre_2, case_id, "transfer", NOW + timedelta(days=1),
                to_window="W-ZJ-04", reason="初审完成，转审批窗口作出决定")
    assert (handed.state, handed.window) == (Status.ROUTED, "W-ZJ-04")
    do(session, hub, dec_1, case_id, "claim", NOW + timedelta(days=3))
    do(session, hub, dec_1, case_id, "accept", NOW + timedelta(days=3))
    session.commit()

    deadlines = [e.payload["deadline"] for e in case_work.case_events(session, hub, case_id)
                 if e.type.value == "accepted"]
    first = CALENDAR.deadline(NOW, CATALOGUE.item("ZJ-1201").promised_days).due_at
    assert first is not None
    assert deadlines == [first.isoformat(), first.isoformat()]


@pytest.fixture
def staff(session: Session) -> None:
    """The hub's accounts: operators of the window, one of another, one switched off, a
    cashier of the window and an operator of the window's name at another site."""
    for username, role, site, window in [
        ("mz-review", "window_operator", CITY, CITY_WINDOW),
        ("mz-third", "window_operator", CITY, CITY_WINDOW),
        ("mz-gone", "window_operator", CITY, CITY_WINDOW),
        ("ny-desk", "window_operator", CITY, "W-NY-01"),
        ("mz-cashier", "finance", CITY, CITY_WINDOW),
        ("t-desk", "window_operator", TOWNSHIP, CITY_WINDOW),
    ]:
        add_user(session, username=username, password=PASSWORD, role=role, site=site,
                 window=window, now=NOW)
    session.flush()
    set_active(session, "mz-gone", False)
    session.commit()


@pytest.mark.usefixtures("staff")
def test_a_case_is_reassigned_only_to_an_active_operator_of_its_window(
        session: Session, hub: SyncSite, village: Village) -> None:
    """A supervisor may hand a case only to someone who can work it here; a bad name is
    refused on the ``assignee`` field and nothing is written."""
    case_id = routed_case(session, hub, village)
    do(session, hub, operator("mz-review", CITY_WINDOW), case_id, "claim")
    session.commit()
    lead = Actor("city-lead", Role.SUPERVISOR, CITY, "city")
    before = stored_counts(session)
    for assignee, problem in [("nobody", "no user nobody at this site"),
                              ("ny-desk", "not an operator of window W-MZ-01"),
                              ("mz-cashier", "not an operator of window W-MZ-01"),
                              ("t-desk", "no user t-desk at this site"),
                              ("mz-gone", "account is not active")]:
        with pytest.raises(Problems) as refused:
            do(session, hub, lead, case_id, "reassign", assignee=assignee)
        assert set(refused.value.fields) == {"assignee"}
        assert problem in refused.value.fields["assignee"], assignee
        assert stored_counts(session) == before

    moved = do(session, hub, lead, case_id, "reassign", assignee="mz-third", reason=" 病假 ")
    session.commit()
    assert moved.claimed_by == "mz-third"
    last = case_work.case_events(session, hub, case_id)[-1]
    assert (last.type.value, last.actor, last.payload) == (
        "reassigned", EventActor("city-lead", Role.SUPERVISOR), {"to": "mz-third",
                                                                 "reason": "病假"})


# -- events from other sites --------------------------------------------------------------------


def test_an_event_the_case_no_longer_allows_is_kept_and_refused_once(
        session: Session, village: Village) -> None:
    """The village's event is stored either way; the owner answers the one the case does not
    allow with one ``refused`` event, which goes down to the village, and the case stays."""
    township = deciding_site(TOWNSHIP)
    case_id = routed_case(session, township, village, TOWNSHIP_ITEM, "township")
    late = village.author(case_id, "supplement_provided", {"provided": ["ID_CARD"]}, NOW)
    added = village.author(case_id, "material_added", {"code": "ID_CARD"}, NOW)
    stored = arrive(session, township, [late, added])
    # the log read back holds the new events: fold what was there before them
    before = fold(case_work.case_events(session, township, case_id)[:-2])
    assert before.state is Status.ROUTED
    refusals = []
    for event in case_work.many_case_events(session, township.sealer, stored)[case_id][-2:]:
        before, refusal = case_work.admit_arrived(township, "township", event, before, NOW)
        if refusal is not None:
            refusals.append(refusal)
    case_work.append_all(session, township, [case_work.CaseDrafts(case_id, refusals)], NOW)
    session.commit()

    assert len(refusals) == 1
    assert refusals[0].payload["refused"] == {"origin": VILLAGE, "epoch": 1, "seq": late.seq}
    assert refusals[0].payload["event_type"] == "supplement_provided"
    assert types_of(session, case_id).count("supplement_provided") == 1  # kept
    assert types_of(session, case_id, TOWNSHIP).count("refused") == 1
    after = case_work.case_state(session, township, case_id)
    assert after.state is Status.ROUTED
    assert after.refusals == ((VILLAGE, 1, late.seq),)
    assert down_types(session, VILLAGE)[-1] == "refused"
