"""The exchange glue on its own: a child's ``sync_with_parent`` and its parent's
``answer_child``, each site on its own real database (the hub also on PostgreSQL), joined by
an in-process Transport callable that hands the request bytes to the parent.

Events registered at a child arrive at the parent exactly once and leave the child's outbox
only once the parent stored them; a replayed request, a lost answer and a site that is not a
child change nothing they should not; down items (receipts, the parent's events) reach the
child and move its down ack; ``sync_until_quiet`` stops when nothing is left or at the first
failure; a relay forwards its child's events up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from flask import Flask
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.exchange.child import SyncOutcome, sync_until_quiet, sync_with_parent
from shared.exchange.parent import Answer, answer_child
from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH, BlobSettings, SyncSite
from shared.exchange.status import child_ack, sync_status
from shared.exchange.transport import TransportError
from shared.exchange.tree import send_down
from shared.storage import sync_store as store
from shared.storage.db import Base, make_engine
from shared.storage.link_state import load_parent_link, save_parent_link
from shared.web.exchange_endpoint import exchange_blueprint
from sync_protocol import (
    Certificate,
    Event,
    LinkPosition,
    ParentLink,
    Receipt,
    Release,
    SiteKey,
    generate_key,
    issue_certificate,
)
from sync_protocol.framing import Kind, peek_frame
from sync_protocol.messages import decode_refusal
from sync_protocol.times import to_ms

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HUB = "431000"
TOWNSHIP = "431002001"
VILLAGE = "431002001201"
OTHER_TOWNSHIP = "431002002"
STRAY = "431002002201"
"""A village certified under the other township."""

Key = tuple[str, int, int]


class Clock:
    """Time that moves on by one second at every reading (both sides read the same one)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Recorder:
    """SyncHooks that remember everything they were shown, duplicates included."""

    events: list[Key] = field(default_factory=list)
    receipts: list[Key] = field(default_factory=list)
    releases: list[tuple[str, int]] = field(default_factory=list)
    acked: list[uuid.UUID] = field(default_factory=list)

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        self.events += [(e.origin, e.epoch, e.seq) for e in events]

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        self.receipts += [(r.origin, r.epoch, r.through_seq) for r in receipts]

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        self.releases += [(r.kind, r.version) for r in releases]

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        self.acked += sorted(case_ids)


def create_sync_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine, tables=[cast(Table, t.__table__) for t in store.SYNC_TABLES])


@dataclass
class Place:
    """One site: its database, who it is, and what its hooks saw."""

    engine: Engine
    site: SyncSite
    hooks: Recorder

    @property
    def code(self) -> str:
        return self.site.code

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def register(self, n: int, clock: Clock) -> list[Event]:
        """Register ``n`` cases here, as intake does: each event signed, owed to the parent."""
        at_ms = to_ms(clock())
        own = [store.OwnEvent(uuid.uuid4(), "agent:wang", "registered", {"n": i}, at_ms)
               for i in range(n)]
        with self.session() as session:
            events = store.author_events(session, self.site.key, self.site.sealer, own,
                                         epoch=self.site.epoch, up=True, now_ms=at_ms)
            session.commit()
        return events

    def pending_up(self) -> int:
        with self.session() as session:
            return store.count_pending_up(session)

    def held(self, origin: str) -> list[Key]:
        """The events of ``origin`` this site stores, in chain order."""
        with self.session() as session:
            rows = session.execute(
                select(store.SyncEvent.origin, store.SyncEvent.epoch, store.SyncEvent.seq)
                .where(store.SyncEvent.origin == origin)
                .order_by(store.SyncEvent.epoch, store.SyncEvent.seq))
            return [(r.origin, r.epoch, r.seq) for r in rows]

    def down_ack(self) -> LinkPosition:
        with self.session() as session:
            return load_parent_link(session, site=self.code, parent=self.site.parent or "",
                                    epoch=self.site.epoch).down_ack

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of the sync tables."""
        with self.session() as session:
            return {str(t.__tablename__): sorted(
                (tuple(r) for r in session.execute(select(t.__table__))), key=repr)
                for t in store.SYNC_TABLES}


@dataclass
class Wire:
    """The Transport between the sites: each request goes to ``answer_child`` on its
    parent's own session. Call numbers (from 1) listed in ``unreachable`` never reach the
    parent; those in ``lost`` lose the answer after the parent committed."""

    clock: Clock
    places: dict[str, Place] = field(default_factory=dict)
    calls: int = 0
    unreachable: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    requests: list[bytes] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    answered_at: list[datetime] = field(default_factory=list)
    after_answer: Callable[[], None] | None = None

    def __call__(self, url: str, data: bytes) -> bytes:
        self.calls += 1
        if self.calls in self.unreachable:
            raise TransportError(f"connection refused by {url}")
        self.requests.append(data)
        parent = self.places[url]
        now = self.clock()
        with parent.session() as session:
            answer = answer_child(session, parent.site, data, now)
        self.answers.append(answer)
        self.answered_at.append(now)
        if self.after_answer is not None:
            self.after_answer()
        if self.calls in self.lost:
            raise TransportError("connection reset before the answer arrived")
        return answer.data


@dataclass
class Tree:
    """The hub and the nodes below it, all joined by one :class:`Wire`."""

    clock: Clock
    hub_key: SiteKey
    wire: Wire
    tmp_path: Path
    hub: Place

    def add(self, code: str, parent: str, tier: str, *,
            certified_parent: str | None = None) -> Place:
        """Enrol a node: the hub certifies its key (and keeps the certificate, as enrolment
        does); the node talks to ``parent`` (its certified parent unless told otherwise)."""
        key = generate_key(code)
        cert = issue_certificate(self.hub_key, site=code, parent=certified_parent or parent,
                                 tier=tier, public_raw=key.public_raw, now=START)
        with self.hub.session() as session:
            store.add_credentials(session, [cert], forward=False)
            session.commit()
        engine = make_engine(f"sqlite:///{self.tmp_path / code}.sqlite")
        place = make_place(engine, key, self.hub_key, parent=parent, cert=cert)
        self.wire.places[code] = place
        return place

    def sync(self, place: Place) -> SyncOutcome:
        with place.session() as session:
            return sync_with_parent(session, place.site, self.wire, self.clock)

    def dispose(self) -> None:
        for place in self.wire.places.values():
            place.engine.dispose()


def make_place(engine: Engine, key: SiteKey, hub_key: SiteKey, *, parent: str | None = None,
               cert: Certificate | None = None, root: bool = False) -> Place:
    create_sync_tables(engine)
    hooks = Recorder()
    site = SyncSite(key=key, hub_site=HUB, hub_public_raw=hub_key.public_raw,
                    sealer=store.PlainPayloads(), parent=parent, parent_url=parent,
                    own_credentials=(cert,) if cert is not None else (), hooks=hooks,
                    root=root, blob_settings=BlobSettings())
    return Place(engine, site, hooks)


def make_tree(hub_engine: Engine, tmp_path: Path) -> Tree:
    clock = Clock()
    hub_key = generate_key(HUB)
    hub = make_place(hub_engine, hub_key, hub_key, root=True)
    wire = Wire(clock, {HUB: hub})
    return Tree(clock, hub_key, wire, tmp_path, hub)


@pytest.fixture
def tree(db_engine: Engine, tmp_path: Path) -> Iterator[Tree]:
    """The hub on SQLite or PostgreSQL (``db_engine``), every node on a SQLite file."""
    built = make_tree(db_engine, tmp_path)
    yield built
    built.dispose()


@pytest.fixture
def sqlite_tree(tmp_path: Path) -> Iterator[Tree]:
    """Every site on a SQLite file."""
    built = make_tree(make_engine(f"sqlite:///{tmp_path / HUB}.sqlite"), tmp_path)
    yield built
    built.dispose()


def keys(events: Sequence[Event]) -> list[Key]:
    return [(e.origin, e.epoch, e.seq) for e in events]


def refusal_code(data: bytes) -> str:
    """The error code of a refusal frame (the child verifies it; here it is only read)."""
    frame = peek_frame(data, dictionaries={})
    assert frame.kind is Kind.REFUSAL
    return decode_refusal(frame.open()).code


# -- up: exactly once, acks follow storage ---------------------------------------------------------


def test_events_arrive_once_and_leave_the_outbox_only_after_the_parent_stored_them(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    registered = township.register(3, tree.clock)
    in_flight: list[tuple[int, list[Key]]] = []
    tree.wire.after_answer = lambda: in_flight.append(
        (township.pending_up(), tree.hub.held(TOWNSHIP)))

    outcome = tree.sync(township)

    assert outcome.ok, outcome.error
    assert outcome.sent == 3
    # when the parent had committed and answered, the child still owed all three
    assert in_flight == [(3, keys(registered))]
    assert township.pending_up() == 0
    assert tree.hub.hooks.events == keys(registered)
    assert tree.hub.held(TOWNSHIP) == keys(registered)
    assert sorted(township.hooks.acked) == sorted({e.case_id for e in registered})

    assert tree.wire.answers[-1].stored == 3

    again = tree.sync(township)  # nothing new: nothing sent, nothing seen twice
    assert again.ok and again.sent == 0
    assert tree.hub.hooks.events == keys(registered)
    assert tree.hub.held(TOWNSHIP) == keys(registered)
    assert tree.wire.answers[-1].stored == 0


def test_a_request_replayed_byte_for_byte_stores_nothing_twice(tree: Tree) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    registered = township.register(2, tree.clock)
    assert tree.sync(township).ok
    before = tree.hub.snapshot()
    replayed = tree.wire.requests[0]

    with tree.hub.session() as session:
        answer = answer_child(session, tree.hub.site, replayed, tree.clock())

    assert answer.status == 409
    assert refusal_code(answer.data) == "replay"
    assert tree.hub.hooks.events == keys(registered)
    assert tree.hub.held(TOWNSHIP) == keys(registered)
    assert tree.hub.snapshot() == before  # no second receipt, no event, no link change
    assert tree.sync(township).ok  # the child's own next request is still welcome
    assert tree.hub.hooks.events == keys(registered)


def test_a_lost_answer_is_recovered_by_the_next_exchange_without_a_duplicate(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    registered = township.register(2, tree.clock)
    tree.wire.lost = {1}

    lost = tree.sync(township)

    assert not lost.ok
    assert lost.error == "connection reset before the answer arrived"
    assert tree.hub.held(TOWNSHIP) == keys(registered)  # the parent committed...
    assert township.pending_up() == 2  # ...but the child heard no ack: still owed
    assert township.hooks.receipts == []

    recovered = tree.sync(township)

    assert recovered.ok, recovered.error
    assert township.pending_up() == 0
    assert tree.hub.hooks.events == keys(registered)  # seen once, across both requests
    assert tree.hub.held(TOWNSHIP) == keys(registered)
    assert township.hooks.receipts == [(TOWNSHIP, 1, 2)]  # the lost answer's receipt, once
    assert township.down_ack() == LinkPosition(1, 1)


@pytest.mark.parametrize("parent", [HUB, TOWNSHIP])
def test_a_site_that_is_not_a_child_is_refused_and_nothing_is_written(
    tree: Tree, parent: str,
) -> None:
    """A village certified under another township, pointed at the wrong parent: the hub
    (which certified it) and a township (which never heard of it) both refuse it."""
    if parent == TOWNSHIP:
        tree.add(TOWNSHIP, HUB, "township")
    stray = tree.add(STRAY, parent, "village", certified_parent=OTHER_TOWNSHIP)
    stray.register(2, tree.clock)
    answering = tree.wire.places[parent]
    before = answering.snapshot()

    outcome = tree.sync(stray)

    assert not outcome.ok
    assert outcome.error is not None and outcome.error.startswith("refused: wrong_address")
    assert [a.status for a in tree.wire.answers] == [403]
    assert refusal_code(tree.wire.answers[0].data) == "wrong_address"
    assert answering.snapshot() == before  # not its certificate, link, events nor info
    assert answering.hooks.events == []
    assert stray.pending_up() == 2


# -- down: receipts and the parent's events --------------------------------------------------------


def test_receipts_and_events_for_the_child_come_down_once_and_move_its_down_ack(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    registered = township.register(1, tree.clock)

    first = tree.sync(township)

    assert first.ok and first.receipts == 1
    assert township.hooks.receipts == [(TOWNSHIP, 1, 1)]  # from the root, at once
    assert township.down_ack() == LinkPosition(1, 1)

    with tree.hub.session() as session:
        decided = store.author_events(
            session, tree.hub_key, tree.hub.site.sealer,
            [store.OwnEvent(registered[0].case_id, "window:li", "decided",
                            {"outcome": "approved"}, to_ms(tree.clock()))],
            epoch=1, up=False, now_ms=to_ms(tree.clock()))
        assert send_down(session, tree.hub.site, decided[0], TOWNSHIP, tree.clock())
        session.commit()

    second = tree.sync(township)

    assert second.ok and second.received == 1
    assert township.hooks.events == keys(decided)
    assert township.held(HUB) == keys(decided)
    assert township.pending_up() == 0  # what came down does not go back up
    assert township.down_ack() == LinkPosition(1, 2)

    third = tree.sync(township)  # acks (1, 2): nothing is sent again

    assert third.ok and third.received == 0 and third.receipts == 0
    assert township.hooks.events == keys(decided)
    assert township.hooks.receipts == [(TOWNSHIP, 1, 1)]
    with tree.hub.session() as session:
        assert child_ack(session, TOWNSHIP) == LinkPosition(1, 2)


# -- sync_until_quiet ------------------------------------------------------------------------------


def small_batches(place: Place) -> None:
    """Start the link at the smallest batch (10 events, doubling after each success)."""
    with place.session() as session:
        save_parent_link(session, ParentLink(site=place.code, parent=place.site.parent or "",
                                             batch_events=10))
        session.commit()


def test_sync_until_quiet_stops_when_nothing_is_left(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    small_batches(township)
    registered = township.register(25, tree.clock)

    with township.session() as session:
        outcomes = sync_until_quiet(session, township.site, tree.wire, tree.clock)

    assert [(o.ok, o.sent, o.more) for o in outcomes] == [(True, 10, True), (True, 15, False)]
    assert tree.wire.calls == 2
    assert township.pending_up() == 0
    assert tree.hub.hooks.events == keys(registered)  # each once, in chain order


def test_sync_until_quiet_stops_at_the_first_failure(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    small_batches(township)
    registered = township.register(45, tree.clock)
    tree.wire.unreachable = {2}

    with township.session() as session:
        outcomes = sync_until_quiet(session, township.site, tree.wire, tree.clock)

    assert [(o.ok, o.sent) for o in outcomes] == [(True, 10), (False, 0)]
    assert outcomes[1].error == f"connection refused by {HUB}"
    assert tree.wire.calls == 2  # no third try after the failure
    assert tree.hub.hooks.events == keys(registered[:10])
    assert township.pending_up() == 35


def test_a_parent_that_asks_to_wait_is_left_alone_and_the_bytes_still_count(
        sqlite_tree: Tree) -> None:
    """A hub whose database is out of reach answers 503 with ``Retry-After``: the outcome
    carries the wait for the sync job, and the request's bytes count in the status, as
    they crossed the line."""
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    township.register(3, tree.clock)

    def busy(url: str, data: bytes) -> bytes:
        raise TransportError("HTTP 503: database unavailable", retry_after=30.0)

    with township.session() as session:
        before = sync_status(session, township.site)["bytes_up"]
        outcome = sync_with_parent(session, township.site, busy, tree.clock)
        after = sync_status(session, township.site)["bytes_up"]

    assert not outcome.ok and outcome.retry_after == 30.0
    assert outcome.bytes_up > 0
    assert after == before + outcome.bytes_up  # type: ignore[operator]
    assert township.pending_up() == 3


def test_the_exchange_endpoint_tells_a_relay_when_events_came_from_below(
        sqlite_tree: Tree) -> None:
    """A township's sync job is nudged when a village's events were stored, so they go on
    to the hub at once and not at the job's next interval; an exchange that stored nothing
    new nudges nothing."""
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    township.register(2, tree.clock)
    nudged: list[int] = []
    app = Flask(__name__)
    with tree.hub.session() as hub_session:
        app.register_blueprint(exchange_blueprint(
            lambda: hub_session, lambda: tree.hub.site, tree.clock,
            events_from_below=lambda: nudged.append(1)))
        client = app.test_client()

        def post(url: str, data: bytes) -> bytes:
            reply = client.post(EXCHANGE_PATH, data=data, content_type=CONTENT_TYPE)
            return reply.get_data()

        with township.session() as session:
            first = sync_with_parent(session, township.site, post, tree.clock)
            assert first.ok and first.sent == 2
            assert nudged == [1]
            second = sync_with_parent(session, township.site, post, tree.clock)
            assert second.ok and second.sent == 0
            assert nudged == [1]


# -- a relay ---------------------------------------------------------------------------------------


def test_a_relay_forwards_up_what_its_child_sent_and_the_receipt_comes_back_down(
    tree: Tree,
) -> None:
    township = tree.add(TOWNSHIP, HUB, "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    registered = village.register(3, tree.clock)

    assert tree.sync(village).ok
    assert village.pending_up() == 0  # the township stored them...
    assert township.hooks.events == keys(registered)
    assert township.pending_up() == 3  # ...and owes them to the hub
    assert tree.hub.held(VILLAGE) == []

    up = tree.sync(township)

    assert up.ok and up.sent == 3
    assert tree.hub.hooks.events == keys(registered)  # with the village's certificate
    assert tree.hub.held(VILLAGE) == keys(registered)
    assert township.pending_up() == 0
    assert township.hooks.receipts == [(VILLAGE, 1, 3)]

    down = tree.sync(village)  # the hub's receipt, relayed toward its origin

    assert down.ok and down.receipts == 1
    assert village.hooks.receipts == [(VILLAGE, 1, 3)]
    assert village.down_ack() == LinkPosition(1, 1)
    assert tree.hub.hooks.events == keys(registered)
    assert township.hooks.events == keys(registered)
