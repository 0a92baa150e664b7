"""Event payloads sealed at rest on SQLite and PostgreSQL, the start-up step that seals the
payloads an earlier release kept in clear (in batches, resuming where it stopped), and the
sync records that carry events (link history, downward streams, parked events) sealed too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.db import Base
from shared.storage.sealing import (
    DataKeys,
    SealedPayloads,
    SealedRecords,
    SealError,
    is_sealed_payload,
)
from sync_protocol import KeyRing, LinkPosition, generate_key, verify_store
from sync_protocol.times import to_ms

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HUB = "431000"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    Base.metadata.create_all(db_engine, tables=[cast(Table, t.__table__)
                                                for t in store.SYNC_TABLES])
    with Session(db_engine) as s:
        yield s


def _own(n: int) -> list[store.OwnEvent]:
    return [store.OwnEvent(uuid.uuid4(), "system", "registered",
                           {"n": i, "applicant": {"id_number": ID_NUMBER}}, to_ms(NOW))
            for i in range(n)]


def _payloads(session: Session) -> list[bytes]:
    return [bytes(p) for p in session.scalars(select(store.SyncEvent.payload)
                                              .order_by(store.SyncEvent.id))]


def test_clear_payloads_are_sealed_in_place_and_the_chain_still_verifies(
        session: Session) -> None:
    key = generate_key(HUB)
    sealer = SealedPayloads(DataKeys(b"d" * 32))
    store.author_events(session, key, store.PlainPayloads(), _own(2500), epoch=1, up=False,
                        now_ms=to_ms(NOW))
    session.commit()
    assert sum(ID_NUMBER.encode() in p for p in _payloads(session)) == 2500
    assert store.seal_clear_payloads(session, sealer) == 2500
    session.commit()
    assert all(is_sealed_payload(p) and ID_NUMBER.encode() not in p
               for p in _payloads(session))
    rows = session.scalars(select(store.SyncEvent).order_by(store.SyncEvent.id)).all()
    events = [store.as_event(r, sealer) for r in rows]
    assert [e.payload["n"] for e in events] == list(range(2500))
    assert verify_store(events, KeyRing(HUB, key.public_raw)).ok
    # the next start looks only at what came since; new clear rows are found there
    assert store.seal_clear_payloads(session, sealer) == 0
    store.author_events(session, key, store.PlainPayloads(), _own(3), epoch=1, up=False,
                        now_ms=to_ms(NOW))
    store.author_events(session, key, sealer, _own(2), epoch=1, up=False, now_ms=to_ms(NOW))
    assert store.seal_clear_payloads(session, sealer) == 3
    assert all(is_sealed_payload(p) for p in _payloads(session))


def test_a_payload_sealed_under_another_key_does_not_open(session: Session) -> None:
    key = generate_key(HUB)
    mine, theirs = SealedPayloads(DataKeys(b"d" * 32)), SealedPayloads(DataKeys(b"e" * 32))
    row = store.author_event(session, key, mine, epoch=1, case_id=uuid.uuid4(),
                             actor="system", type="registered", payload={"a": 1},
                             at_ms=to_ms(NOW), up=False, now_ms=to_ms(NOW))
    assert store.open_payload(row, mine) == {"a": 1}
    with pytest.raises(SealError):
        store.open_payload(row, theirs)
    # a retired key still opens what it sealed
    rotated = SealedPayloads(DataKeys(b"f" * 32, (b"d" * 32,)))
    assert store.open_payload(row, rotated) == {"a": 1}


def test_records_that_carry_events_are_sealed_when_a_sealer_is_attached(
        session: Session, db_engine: Engine) -> None:
    key = generate_key(HUB)
    own = store.author_events(session, key, store.PlainPayloads(), _own(2), epoch=1,
                              up=False, now_ms=to_ms(NOW))
    history = b"a request body naming " + ID_NUMBER.encode()
    store.write_state(session, "link_history", history)  # written in clear, as before
    session.commit()
    store.use_record_sealer(db_engine, SealedRecords(DataKeys(b"r" * 32)))
    assert store.read_state(session, "link_history") == history  # clear records still read
    store.write_states(session, {"link_history": history, "link_history:431002001:0": history,
                                 "parent_link": b"not an event"})
    store.enqueue_down_many(session, [("431002001", own[0]), ("431002001", own[1])], epoch=1,
                            now_ms=to_ms(NOW))
    store.park_unrouted(session, own[:1])
    session.commit()
    stored = b"".join(bytes(v) for v in session.scalars(select(store.SyncState.value)))
    stored += b"".join(bytes(i) for i in session.scalars(select(store.SyncDown.item)))
    assert ID_NUMBER.encode() not in stored
    assert b"not an event" in stored  # records that carry no events stay as they are
    assert store.read_state(session, "link_history") == history
    assert store.read_state(session, "link_history:431002001:0") == history
    down = store.down_after(session, "431002001", LinkPosition(1, 0), 10)
    def brief(events: list[Any]) -> list[tuple[str, int, dict[str, Any]]]:
        return [(e.origin, e.seq, e.payload) for e in events]

    assert brief([d.item for d in down]) == brief(own)
    assert brief(store.take_unrouted(session, [own[0].case_id])) == brief(own[:1])
    # a sealed down item moved to another position does not open
    first, second = session.scalars(select(store.SyncDown).order_by(store.SyncDown.id)).all()
    second.item = first.item
    session.flush()
    with pytest.raises(SealError):
        store.down_after(session, "431002001", LinkPosition(1, 0), 10)


def test_records_kept_in_clear_by_an_earlier_release_are_sealed_at_start(
        session: Session, db_engine: Engine) -> None:
    key = generate_key(HUB)
    own = store.author_events(session, key, store.PlainPayloads(), _own(3), epoch=1,
                              up=False, now_ms=to_ms(NOW))
    store.enqueue_down_many(session, [("431002001", e) for e in own], epoch=1,
                            now_ms=to_ms(NOW))
    store.park_unrouted(session, own[:1])
    history = b"a request body naming " + ID_NUMBER.encode()
    store.write_states(session, {"link_history": history, "parent_link": b"no event"})
    session.commit()
    records = SealedRecords(DataKeys(b"r" * 32))
    assert store.seal_clear_records(session, records) == 5  # 3 items, 2 records
    session.commit()
    stored = b"".join(bytes(v) for v in session.scalars(select(store.SyncState.value)))
    stored += b"".join(bytes(i) for i in session.scalars(select(store.SyncDown.item)))
    assert ID_NUMBER.encode() not in stored and b"no event" in stored
    store.use_record_sealer(db_engine, records)
    assert store.read_state(session, "link_history") == history
    down = store.down_after(session, "431002001", LinkPosition(1, 0), 10)
    assert brief_of([d.item for d in down]) == brief_of(own)
    assert store.seal_clear_records(session, records) == 0


def brief_of(items: list[Any]) -> list[tuple[str, int]]:
    return [(i.origin, i.seq) for i in items]
