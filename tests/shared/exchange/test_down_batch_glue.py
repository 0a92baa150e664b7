"""The glue with the negotiated features: a village's backlog goes up in one request and the
township's answers to it come down in the same answer as a down batch, one signature per
run (the village relays to no child), cases named by refs once the parent said it reads
them; a relay keeps every signature."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.exchange.child import reads, sync_until_quiet
from shared.exchange.parent import held_histories
from shared.exchange.site import SyncSite
from shared.exchange.tree import send_all_down
from shared.storage import sync_store as store
from shared.storage.link_state import load_parent_link
from sync_protocol import Event, EventKey, case_id_for
from sync_protocol.features import (
    CASE_REFS,
    CHILD_DEFAULT,
    DOWN_BATCH,
    SPARSE_SIGNATURES,
)
from sync_protocol.framing import peek_frame
from sync_protocol.times import to_ms
from tests.shared.exchange.test_parent_child import (
    HUB,
    TOWNSHIP,
    VILLAGE,
    Place,
    Recorder,
    Tree,
    sqlite_tree,
)

__all__ = ["sqlite_tree"]  # the fixture, shared with the glue's other tests


@dataclass
class Deciding(Recorder):
    """A township's domain: each registration it stores gets two events of its own
    (received, routed), sent down toward the village in the same transaction."""

    site: SyncSite | None = None

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        super().events_arrived(session, events, now)
        assert self.site is not None
        own = [store.OwnEvent(e.case_id, "window:li", kind, {"window": "MZ", "n": i},
                              to_ms(now))
               for i, e in enumerate(e for e in events if e.type == "registered")
               for kind in ("received", "routed")]
        authored = store.author_events(session, self.site.key, self.site.sealer, own,
                                       epoch=1, up=True, now_ms=to_ms(now))
        send_all_down(session, self.site, [(a, e.origin) for a, e in zip(
            authored, [e for e in events if e.type == "registered" for _ in (1, 2)],
            strict=True)], now)


def register_derived(place: Place, n: int, first_seq: int, tree: Tree) -> list[Event]:
    """``n`` registrations whose case ids derive from their own keys, as intake makes them."""
    at_ms = to_ms(tree.clock())
    own = [store.OwnEvent(case_id_for(place.code, 1, first_seq + i), "agent:wang",
                          "registered", {"item_code": "MZ-0305", "n": i}, at_ms)
           for i in range(n)]
    with place.session() as session:
        events = store.author_events(session, place.site.key, place.site.sealer, own,
                                     epoch=1, up=True, now_ms=at_ms)
        session.commit()
    assert all(e.case_id == case_id_for(e.origin, e.epoch, e.seq) for e in events)
    return events


def body(data: bytes, parent: Place | None = None, child: str = VILLAGE) -> dict[Any, Any]:
    """A frame's body; a request compressed against the link's history is opened with the
    histories ``parent`` keeps for ``child``."""
    known: dict[int, Any] = {}
    if parent is not None:
        with parent.session() as session:
            known = {d.dict_id: d for d in held_histories(session, child)}
    value = peek_frame(data, dictionaries=known).open()
    assert isinstance(value, dict)
    return value


def signed_seqs(place: Place, origin: str) -> tuple[int, list[int]]:
    with place.session() as session:
        rows = session.execute(select(store.SyncEvent.seq, store.SyncEvent.signature)
                               .where(store.SyncEvent.origin == origin)
                               .order_by(store.SyncEvent.seq)).all()
    return len(rows), [r.seq for r in rows if r.signature is not None]


def test_a_village_backlog_and_its_answers_take_one_request(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    township.site.hooks = Deciding(site=township.site)
    register_derived(village, 1, 1, tree)  # the first contact (enrolment's first sync)
    with village.session() as session:
        assert sync_until_quiet(session, village.site, tree.wire, tree.clock)[-1].ok
        assert reads(session, village.site) == (*CHILD_DEFAULT, SPARSE_SIGNATURES)
        assert DOWN_BATCH in CHILD_DEFAULT and CASE_REFS in CHILD_DEFAULT
        assert load_parent_link(session, site=VILLAGE, parent=TOWNSHIP,
                                epoch=1).parent_reads == (1, 2, 3, 4, 5)
    calls = tree.wire.calls
    registered = register_derived(village, 400, 2, tree)

    with village.session() as session:
        outcomes = sync_until_quiet(session, village.site, tree.wire, tree.clock)

    assert tree.wire.calls == calls + 1  # everything fit: no second request
    assert [(o.ok, o.sent, o.received, o.more) for o in outcomes] == [(True, 400, 800, False)]
    request = body(tree.wire.requests[-1], township)
    answer = body(tree.wire.answers[-1].data)
    assert request[14] == [1, 2, 3, 4, 5]
    assert request[7][6] == [None] * 400  # every case named by its own registration
    assert 13 in answer and 8 not in answer and answer[14] is False
    print(f"400 registrations: {len(tree.wire.requests[-1])} B up, "
          f"{len(tree.wire.answers[-1].data)} B down")
    assert len(tree.wire.answers[-1].data) < 15 * 800
    # the township's events: stored without their signatures but at the run's end
    held, signed = signed_seqs(village, TOWNSHIP)
    assert held == 802 and signed == [2, 802]  # one run per answer
    with village.session() as session:
        assert {r.case_id for r in session.scalars(
            select(store.SyncEvent).where(store.SyncEvent.origin == TOWNSHIP))} == {
            e.case_id for e in registered} | {case_id_for(VILLAGE, 1, 1)}


def test_a_relay_asks_for_every_signature(sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    with township.session() as session:
        assert reads(session, township.site) == CHILD_DEFAULT
    registered = register_derived(village, 5, 1, tree)
    assert tree.sync(village).ok and tree.sync(township).ok
    with tree.hub.session() as session:  # the hub decides each case, toward the village
        decided = store.author_events(
            session, tree.hub_key, tree.hub.site.sealer,
            [store.OwnEvent(e.case_id, "window:li", "decided", {"ok": True},
                            to_ms(tree.clock())) for e in registered],
            epoch=1, up=False, now_ms=to_ms(tree.clock()))
        send_all_down(session, tree.hub.site, [(e, VILLAGE) for e in decided], tree.clock())
        session.commit()
    assert tree.sync(township).ok
    assert signed_seqs(township, HUB) == (5, [1, 2, 3, 4, 5])  # it may cut runs anywhere
    answer = body(tree.wire.answers[-1].data)
    assert answer[13][4][6] == [[VILLAGE, 1, 1], 1, 1, 1, 1]  # refs: then seq deltas
    assert tree.sync(village).ok
    assert signed_seqs(village, HUB) == (5, [5])


def test_opening_keys_name_the_event_each_derived_case_id_comes_from(
        sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    registered = register_derived(village, 3, 1, tree)
    random_case = uuid.uuid4()
    with village.session() as session:  # a later event of a case does not open it
        store.author_events(session, village.site.key, village.site.sealer,
                            [store.OwnEvent(registered[0].case_id, "agent:wang", "collected",
                                            {}, to_ms(tree.clock()))],
                            epoch=1, up=True, now_ms=to_ms(tree.clock()))
        found = store.opening_keys(session, [e.case_id for e in registered] + [random_case])
    assert found == {e.case_id: EventKey(VILLAGE, 1, e.seq) for e in registered}


def test_a_fresh_link_learns_what_the_parent_reads_before_a_large_backlog(
        sqlite_tree: Tree) -> None:
    tree = sqlite_tree
    township = tree.add(TOWNSHIP, HUB, "township")
    village = tree.add(VILLAGE, TOWNSHIP, "village")
    township.site.hooks = Deciding(site=township.site)
    register_derived(village, 100, 1, tree)

    with village.session() as session:
        outcomes = sync_until_quiet(session, village.site, tree.wire, tree.clock)

    # the first exchange only introduces the sites; the batch then names cases by refs
    assert [(o.ok, o.sent, o.received, o.more) for o in outcomes] == [
        (True, 0, 0, True), (True, 100, 200, False)]
    first, second = (body(r) for r in tree.wire.requests)
    assert 7 not in first and second[7][6] == [None] * 100
    assert body(tree.wire.answers[0].data)[12] == [1, 2, 3, 4, 5]
    assert village.pending_up() == 0
