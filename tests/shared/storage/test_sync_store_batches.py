"""The event store written a batch at a time, on SQLite and PostgreSQL: a run of the site's
own events is one chain that verifies, events already held are skipped rather than doubled,
down items keep their order per child, and the keyring kept per process follows every new
credential and revocation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.bulk_insert import OnConflict, insert_rows
from shared.storage.db import Base
from sync_protocol import (
    ChainHead,
    Event,
    KeyRing,
    LinkPosition,
    Revocation,
    append_event,
    generate_key,
    issue_certificate,
    revocations_content,
    sign_release,
    verify_store,
)
from sync_protocol.times import to_ms

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HUB = "431000"
VILLAGE = "431002001201"
VILLAGE_2 = "431002001202"


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    Base.metadata.create_all(db_engine, tables=[t.__table__ for t in store.SYNC_TABLES])
    with Session(db_engine) as s:
        yield s


def _own(case_id: uuid.UUID, n: int) -> list[store.OwnEvent]:
    return [store.OwnEvent(case_id, "system", "note", {"n": i}, to_ms(NOW)) for i in range(n)]


def test_runs_of_authored_events_continue_one_chain_that_verifies(session: Session) -> None:
    hub = generate_key(HUB)
    case_id = uuid.uuid4()
    first = store.author_event(session, hub, store.PlainPayloads(), epoch=1, case_id=case_id,
                               actor="system", type="note", payload={"n": 0},
                               at_ms=to_ms(NOW), up=True, now_ms=to_ms(NOW))
    run = store.author_events(session, hub, store.PlainPayloads(), _own(case_id, 5), epoch=1,
                              up=True, now_ms=to_ms(NOW))
    more = store.author_events(session, hub, store.PlainPayloads(), _own(case_id, 3), epoch=1,
                               up=True, now_ms=to_ms(NOW))
    session.commit()
    assert first.seq == 1
    assert [e.seq for e in run + more] == list(range(2, 10))
    held = store.pending_up(session, store.PlainPayloads(), limit=100)
    assert [e.seq for e in held] == list(range(1, 10))  # queued up in chain order
    assert all(e.signature is not None for e in held)
    assert verify_store(held, KeyRing(HUB, hub.public_raw)).ok
    assert store.next_counter(session, f"chain:{HUB}:1", 0) == 9  # the counter moved by 9


def test_events_already_held_are_skipped_not_doubled(session: Session) -> None:
    village = generate_key(VILLAGE)
    case_id = uuid.uuid4()
    head = ChainHead.genesis(VILLAGE, 1)
    events: list[Event] = []
    for i in range(4):
        event = append_event(head, village, case_id=case_id, actor="agent:wang", at=NOW,
                             type="note", payload={"n": i})
        events.append(event)
        head = event.head
    stored = store.store_received_many(session, store.PlainPayloads(), events[:3], up=True,
                                       now_ms=to_ms(NOW))
    again = store.store_received_many(session, store.PlainPayloads(), events[1:], up=True,
                                      now_ms=to_ms(NOW))
    session.commit()
    assert [e.seq for e in stored] == [1, 2, 3]
    assert [e.seq for e in again] == [4]
    assert session.scalar(select(func.count()).select_from(store.SyncEvent)) == 4
    assert session.scalar(select(func.count()).select_from(store.SyncOutbox)) == 4
    assert store.store_received_many(session, store.PlainPayloads(), events[:1], up=False,
                                     now_ms=to_ms(NOW)) == []
    assert [r.seq for r in store.case_rows(session, case_id)] == [1, 2, 3, 4]


def test_down_items_keep_their_order_per_child(session: Session) -> None:
    hub = generate_key(HUB)
    case_id = uuid.uuid4()
    events = store.author_events(session, hub, store.PlainPayloads(), _own(case_id, 5),
                                 epoch=1, up=False, now_ms=to_ms(NOW))
    store.enqueue_down(session, VILLAGE, events[0], epoch=1, now_ms=to_ms(NOW))
    positions = store.enqueue_down_many(
        session, [(VILLAGE_2, events[1]), (VILLAGE, events[2]), (VILLAGE_2, events[3]),
                  (VILLAGE, events[4])], epoch=1, now_ms=to_ms(NOW))
    session.commit()
    assert positions == [LinkPosition(1, 1), LinkPosition(1, 2), LinkPosition(1, 2),
                         LinkPosition(1, 3)]
    first = store.down_after(session, VILLAGE, LinkPosition(1, 0), 10)
    assert [(d.position.seq, d.item.seq) for d in first] == [(1, 1), (2, 3), (3, 5)]
    second = store.down_after(session, VILLAGE_2, LinkPosition(1, 1), 10)
    assert [(d.position.seq, d.item.seq) for d in second] == [(2, 4)]


def test_an_upsert_overwrites_only_the_columns_it_names(session: Session) -> None:
    table = cast(Table, store.SyncState.__table__)
    insert_rows(session, table, [{"key": "a", "value": b"1", "counter": 7},
                                 {"key": "b", "value": b"2", "counter": 8}])
    written = insert_rows(
        session, table,
        [{"key": "b", "value": b"new", "counter": 0}, {"key": "c", "value": b"3", "counter": 9}],
        on_conflict=OnConflict(("key",), ("value",)), returning=("key",))
    skipped = insert_rows(session, table, [{"key": "a", "value": b"x", "counter": 0}],
                          on_conflict=OnConflict(("key",)), returning=("key",))
    session.commit()
    rows = {r.key: (bytes(r.value), r.counter) for r in session.scalars(select(store.SyncState))}
    assert rows == {"a": (b"1", 7), "b": (b"new", 8), "c": (b"3", 9)}
    assert sorted(r.key for r in written) == ["b", "c"]
    assert skipped == []


def test_the_kept_keyring_follows_new_credentials_and_revocations(session: Session) -> None:
    hub = generate_key(HUB)
    village = generate_key(VILLAGE)
    other = generate_key(VILLAGE_2)
    cert = issue_certificate(hub, site=VILLAGE, parent="431002001", tier="village",
                             public_raw=village.public_raw, now=NOW)
    store.add_credentials(session, [cert], forward=False)
    session.commit()
    ring = store.build_keyring(session, HUB, hub.public_raw)
    assert ring.knows_site(VILLAGE) and not ring.knows_site(VILLAGE_2)
    # a request's own credentials go into the caller's copy only
    ring.add(issue_certificate(hub, site=VILLAGE_2, parent="431002001", tier="village",
                               public_raw=other.public_raw, now=NOW))
    assert not store.build_keyring(session, HUB, hub.public_raw).knows_site(VILLAGE_2)
    release = sign_release(hub, kind="revocations", version=1,
                           content=revocations_content([Revocation(village.key_id, VILLAGE,
                                                                   1, 3)]),
                           effective_from=NOW, expires_at=NOW + timedelta(days=400))
    store.keep_release(session, release, to_ms(NOW))
    session.commit()
    revoked = store.build_keyring(session, HUB, hub.public_raw)
    assert revoked.key(village.key_id).revoked_through == (1, 3)


def test_a_credential_rolled_back_never_lingers_in_the_kept_tree(session: Session) -> None:
    from shared.exchange.tree import site_parents

    hub = generate_key(HUB)
    village, other = generate_key(VILLAGE), generate_key(VILLAGE_2)
    store.add_credentials(session, [issue_certificate(
        hub, site=VILLAGE, parent="431002001", tier="village", public_raw=village.public_raw,
        now=NOW)], forward=False)
    assert VILLAGE in site_parents(session)
    assert store.build_keyring(session, HUB, hub.public_raw).knows_site(VILLAGE)
    session.rollback()  # the request that brought it was refused
    store.add_credentials(session, [issue_certificate(
        hub, site=VILLAGE_2, parent="431002001", tier="village", public_raw=other.public_raw,
        now=NOW)], forward=False)
    session.commit()
    parents = site_parents(session)
    assert VILLAGE_2 in parents and VILLAGE not in parents
    ring = store.build_keyring(session, HUB, hub.public_raw)
    assert ring.knows_site(VILLAGE_2) and not ring.knows_site(VILLAGE)
