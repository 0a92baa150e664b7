"""The store's side of an erasure, on SQLite: queued copies rewritten once their child has
them (and the rest as soon as it acknowledges them), erased scans refused from below, and
files deleted only when the erasure commits."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.exchange.scans import apply_wants, note_blobs, plan_blobs, receive_blobs
from shared.exchange.site import BlobSettings
from shared.storage import case_erasure
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from shared.storage.db import Base, make_engine
from sync_protocol import BlobChunk, ChainHead, Event, LinkPosition, append_event
from sync_protocol.keys import generate_key
from sync_protocol.payload_digest import is_erased, payload_digest

NOW_MS = 1_800_000_000_000
SCAN = b"\xff\xd8\xff\xe0" + os.urandom(100_000)
CHILD = "431002001201"
PERSON = {"name": "李四", "id_number": "11010519491231002X"}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'site.sqlite'}")
    tables: list[Table] = [store.SyncState.__table__, store.SyncDown.__table__]  # type: ignore[list-item]
    Base.metadata.create_all(engine, tables=tables)
    with Session(engine) as opened:
        yield opened
    engine.dispose()


HUB_KEY = generate_key("431000")
_HEADS: list[ChainHead] = [ChainHead.genesis("431000", 1)]


def _event(case_id: uuid.UUID, type_: str, payload: dict[str, object]) -> Event:
    """The hub's next event (signed: a copy sent down carries its origin's signature)."""
    event = append_event(_HEADS[-1], HUB_KEY, case_id=case_id, actor="hub",
                         at=datetime.now(UTC), type=type_, payload=payload)
    _HEADS.append(event.head)
    return event


def _queued(session: Session) -> list[dict[str, object]]:
    return [dict(d.item.payload) for d in store.down_after(session, CHILD, LinkPosition(), 100)
            if isinstance(d.item, Event)]


def test_copies_are_erased_once_the_child_holds_them(session: Session) -> None:
    erased, other = uuid.uuid4(), uuid.uuid4()
    store.enqueue_down_many(session, [
        (CHILD, _event(erased, "withdrawn", {"note": PERSON["name"]})),
        (CHILD, _event(other, "withdrawn", {"note": "王五"})),
        (CHILD, _event(erased, "rated", {"comment": PERSON["name"], "rating": "good"})),
        (CHILD, _event(erased, "erased", {"reason": "retention over"})),
    ], epoch=1, now_ms=NOW_MS)
    acked = {CHILD: LinkPosition(1, 2)}  # the child has the first two copies

    def delivered(child: str) -> LinkPosition:
        return acked[child]

    assert case_erasure.erase_down_copies(session, delivered, {erased: [NOW_MS]}) == 1
    queued = _queued(session)
    assert is_erased(queued[0]) and PERSON["name"] not in repr(queued[0])
    assert payload_digest(queued[0]) == payload_digest({"note": PERSON["name"]})
    assert _queued(session)[1:] == [
        {"note": "王五"},  # another case's copy is left as it was
        {"comment": PERSON["name"], "rating": "good"},  # on its way: its hash must hold
        {"reason": "retention over"}]
    assert store.read_state(session, case_erasure.PENDING_DOWN)  # remembered

    assert case_erasure.erase_down_copies(session, delivered) == 0  # not acknowledged yet
    acked[CHILD] = LinkPosition(1, 4)
    assert case_erasure.erase_down_copies(session, delivered) == 1
    rated = _queued(session)[2]
    assert is_erased(rated) and rated["comment"] == "" and rated["rating"] == "good"
    assert payload_digest(rated) == payload_digest(
        {"comment": PERSON["name"], "rating": "good"})
    assert store.read_state(session, case_erasure.PENDING_DOWN) == b"\xa0"  # nothing waits


def test_an_erased_scan_is_neither_kept_nor_wanted_from_below(tmp_path: Path,
                                                               session: Session) -> None:
    parent_blobs, child_blobs = BlobStore(tmp_path / "p"), BlobStore(tmp_path / "c")
    digest = child_blobs.put(SCAN)
    event = _event(uuid.uuid4(), "material_added",
                   {"code": "ID", "sha256": digest, "size": len(SCAN)})
    note_blobs(session, parent_blobs, [event], owed=False, now_ms=NOW_MS)
    assert receive_blobs(session, parent_blobs, [], [BlobChunk(bytes.fromhex(digest), 0,
                                                               SCAN[:1000])])
    assert parent_blobs.received(digest) == 1000  # a transfer under way

    case_erasure.forget_scans(session, parent_blobs, [digest])
    assert parent_blobs.part_path(digest).exists()  # kept until the erasure commits
    session.commit()
    assert not parent_blobs.part_path(digest).exists()

    # the child (restored from a backup) offers it and sends it again: nothing is kept
    child_engine = make_engine(f"sqlite:///{tmp_path / 'child.sqlite'}")
    Base.metadata.create_all(child_engine, tables=[store.SyncState.__table__])  # type: ignore[list-item]
    with Session(child_engine) as child:
        note_blobs(child, child_blobs, [event], owed=True, now_ms=NOW_MS)
        plan = plan_blobs(child, child_blobs, BlobSettings())
        assert receive_blobs(session, parent_blobs, plan.offers, []) == []
        chunk = BlobChunk(bytes.fromhex(digest), 0, SCAN[:1000])
        assert receive_blobs(session, parent_blobs, [], [chunk]) == []
        apply_wants(child, plan, [], NOW_MS)
        assert store.blob_record(child, digest).state == store.BLOB_DONE  # type: ignore[union-attr]
    child_engine.dispose()
    assert parent_blobs.received(digest) == 0 and not parent_blobs.has(digest)
    # an unerased copy of the event coming up again does not make it wanted
    note_blobs(session, parent_blobs, [event], owed=True, now_ms=NOW_MS)
    assert case_erasure.erased_scans(session, [digest]) == {digest}


def test_a_rolled_back_erasure_keeps_the_files(tmp_path: Path, session: Session) -> None:
    blobs = BlobStore(tmp_path / "b")
    digest = blobs.put(SCAN)
    assert digest == hashlib.sha256(SCAN).hexdigest()
    case_erasure.forget_scans(session, blobs, [digest])
    session.rollback()
    session.commit()  # a later transaction does not delete what the rolled-back one listed
    assert blobs.get(digest) == SCAN
    assert case_erasure.erased_scans(session, [digest]) == set()
