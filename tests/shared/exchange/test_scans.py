"""Scans moving up through the exchange glue (:mod:`shared.exchange.scans`).

A transfer cut in the middle resumes from the part already held; a parent that holds a scan
answers an offer with no want, so nothing is sent twice; a parent wants only what its events
name; a child never offers a rotten file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from shared.exchange.scans import (
    FIRST_SCAN_BYTES,
    MIN_SCAN_BYTES,
    SCAN_SECONDS,
    apply_wants,
    blob_refs,
    note_blobs,
    paced_budget,
    plan_blobs,
    receive_blobs,
)
from shared.exchange.site import BLOB_BUDGET, BLOB_BUDGET_ENV, BlobSettings
from shared.exchange.status import link_rate, record_status
from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from shared.storage.db import Base, make_engine
from sync_protocol import BlobChunk, Event

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(200_000)
NOW_MS = 1_800_000_000_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_blob_refs_find_registered_and_added_materials() -> None:
    a, b = "aa" * 32, "bb" * 32
    registered = {"materials": [{"code": "ID", "sha256": a, "size": 10,
                                 "media_type": "image/png"}, "junk"], "form": {"x": 1}}
    added = {"code": "ID", "sha256": b, "size": 20, "media_type": "application/pdf"}
    assert blob_refs(registered) == [(a, 10, "image/png")]
    assert blob_refs(added) == [(b, 20, "application/pdf")]
    assert blob_refs({"sha256": a, "size": True}) == []
    assert blob_refs({"sha256": "not-hex", "size": 3}) == []


def test_the_budget_comes_from_the_settings_object_only() -> None:
    assert BlobSettings.from_env({}).budget == BLOB_BUDGET == 256 << 10
    assert BlobSettings.from_env({BLOB_BUDGET_ENV: "4096"}).budget == 4096
    assert BlobSettings.from_env({BLOB_BUDGET_ENV: str(1 << 40)}).budget == 2 << 20
    assert BlobSettings.from_env({BLOB_BUDGET_ENV: "lots"}).budget == BLOB_BUDGET  # logged


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[tuple[Session, Session]]:
    """A child's and a parent's database (the sync tables only)."""
    engines = [make_engine(f"sqlite:///{tmp_path / name}.sqlite") for name in ("c", "p")]
    for engine in engines:
        Base.metadata.create_all(engine, tables=[store.SyncState.__table__])  # type: ignore[list-item]
    with Session(engines[0]) as child, Session(engines[1]) as parent:
        yield child, parent
    for engine in engines:
        engine.dispose()


def _event(payload: dict[str, object]) -> Event:
    return Event(uuid.uuid4(), "431002001201", 1, 1, "agent", datetime.now(UTC),
                 "material_added", payload, b"\0" * 32, b"\0" * 32)


def _exchange(child: Session, parent: Session, cblobs: BlobStore, pblobs: BlobStore,
              settings: BlobSettings) -> tuple[int, bool]:
    """One round: the child's plan, the parent's answer, the child's bookkeeping."""
    plan = plan_blobs(child, cblobs, settings)
    wants = receive_blobs(parent, pblobs, plan.offers, plan.chunks)
    parent.commit()
    moved = apply_wants(child, plan, wants, NOW_MS)
    child.commit()
    return plan.bytes, moved


def test_offer_want_chunks_resume_and_nothing_twice(sessions: tuple[Session, Session],
                                                     tmp_path: Path) -> None:
    child, parent = sessions
    cblobs, pblobs = BlobStore(tmp_path / "c"), BlobStore(tmp_path / "p")
    digest = cblobs.put(JPEG)
    event = _event({"code": "ID", "sha256": digest, "size": len(JPEG),
                    "media_type": "image/jpeg"})
    note_blobs(parent, pblobs, [event], owed=False, now_ms=NOW_MS)  # the parent stored it
    assert note_blobs(child, cblobs, [event], owed=True, now_ms=NOW_MS) == 1  # and acked it
    settings = BlobSettings(budget=80_000, chunk_size=32_768)

    sent, moved = _exchange(child, parent, cblobs, pblobs, settings)  # the offer
    assert (sent, moved) == (0, True)
    assert store.blob_record(child, digest).want == 0  # type: ignore[union-attr]
    sent, _ = _exchange(child, parent, cblobs, pblobs, settings)  # the first 80,000 bytes
    assert sent == 80_000 and pblobs.received(digest) == 80_000
    # the answer is lost: the child sends again from its stale offset; the parent keeps
    # only what continues its part and tells it where it is
    record = store.blob_record(child, digest)
    assert record is not None
    record.want = 40_000
    store.save_blob_record(child, record)
    sent, _ = _exchange(child, parent, cblobs, pblobs, settings)
    assert pblobs.received(digest) == 120_000
    while store.blob_record(child, digest).state == store.BLOB_OWED:  # type: ignore[union-attr]
        _exchange(child, parent, cblobs, pblobs, settings)
    assert pblobs.get(digest) == JPEG
    assert store.blob_record(parent, digest).held  # type: ignore[union-attr]

    # the same scan named by another event: asked about again, not sent again
    assert note_blobs(child, cblobs, [_event(dict(event.payload))], owed=True, now_ms=NOW_MS) == 1
    sent, _ = _exchange(child, parent, cblobs, pblobs, settings)
    assert sent == 0
    assert store.blob_record(child, digest).state == store.BLOB_DONE  # type: ignore[union-attr]


def test_a_parent_wants_only_what_its_events_name(sessions: tuple[Session, Session],
                                                   tmp_path: Path) -> None:
    child, parent = sessions
    cblobs, pblobs = BlobStore(tmp_path / "c"), BlobStore(tmp_path / "p")
    digest = cblobs.put(JPEG)
    event = _event({"sha256": digest, "size": len(JPEG)})
    note_blobs(child, cblobs, [event], owed=True, now_ms=NOW_MS)
    plan = plan_blobs(child, cblobs, BlobSettings())
    assert receive_blobs(parent, pblobs, plan.offers, []) == []  # no event names it there
    chunk = BlobChunk(bytes.fromhex(digest), 0, JPEG[:100])
    assert receive_blobs(parent, pblobs, [], [chunk]) == []
    assert pblobs.received(digest) == 0


def test_a_corrupted_transfer_starts_again_from_zero(sessions: tuple[Session, Session],
                                                     tmp_path: Path) -> None:
    _, parent = sessions
    pblobs = BlobStore(tmp_path / "p")
    digest = sha(JPEG)
    note_blobs(parent, pblobs, [_event({"sha256": digest, "size": len(JPEG)})], owed=False,
               now_ms=NOW_MS)
    name = bytes.fromhex(digest)
    bad = JPEG[:-1] + b"\0"
    wants = receive_blobs(parent, pblobs, [], [BlobChunk(name, 0, bad)])
    assert [(w.sha256, w.offset) for w in wants] == [(name, 0)]
    assert not pblobs.has(digest) and pblobs.received(digest) == 0


def test_a_child_does_not_offer_a_rotten_file(sessions: tuple[Session, Session],
                                              tmp_path: Path) -> None:
    child, _ = sessions
    cblobs = BlobStore(tmp_path / "c")
    digest = cblobs.put(JPEG)
    note_blobs(child, cblobs, [_event({"sha256": digest, "size": len(JPEG)})], owed=True,
               now_ms=NOW_MS)
    cblobs.path(digest).write_bytes(JPEG[:-1] + b"\0")
    plan = plan_blobs(child, cblobs, BlobSettings())
    assert plan.offers == [] and plan.broken == [digest]
    apply_wants(child, plan, [], NOW_MS)
    assert store.blob_record(child, digest).state == store.BLOB_BROKEN  # type: ignore[union-attr]


def test_scans_take_a_few_seconds_of_the_link_per_exchange(
        sessions: tuple[Session, Session], tmp_path: Path) -> None:
    """Events never wait behind scans: each request carries only what the link moves in
    ``SCAN_SECONDS`` at the rate the last exchanges measured, so a registration made while
    a scan travels goes up a few seconds later, not after a 256 KiB request (32 s at
    64 kbit/s)."""
    child, _ = sessions
    settings = BlobSettings()
    assert link_rate(child) is None
    assert paced_budget(child, settings) == FIRST_SCAN_BYTES
    now = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    # a 64 kbit/s line: 40 KB in 5 s; a small exchange says nothing about the rate
    record_status(child, now, ok=True, error=None, reachable=True, bytes_up=39_000,
                  bytes_down=1_000, seconds=5.0)
    record_status(child, now, ok=True, error=None, reachable=True, bytes_up=300,
                  bytes_down=200, seconds=0.4)
    assert link_rate(child) == 8_000.0
    assert paced_budget(child, settings) == int(8_000 * SCAN_SECONDS)
    cblobs = BlobStore(tmp_path / "c")
    digest = cblobs.put(JPEG)
    note_blobs(child, cblobs, [_event({"sha256": digest, "size": len(JPEG)})], owed=True,
               now_ms=NOW_MS)
    record = store.blob_record(child, digest)
    assert record is not None
    record.want = 0
    store.save_blob_record(child, record)
    plan = plan_blobs(child, cblobs, settings, paced_budget(child, settings))
    assert plan.bytes == 32_000
    # a fast line is held to the configured budget; a crawling one still moves something
    record_status(child, now, ok=True, error=None, reachable=True, bytes_up=10_000_000,
                  bytes_down=0, seconds=1.0)
    assert paced_budget(child, settings) == settings.budget
    assert paced_budget(child, BlobSettings(budget=50_000)) == 50_000
    # a budget the operator set is taken as it is, paced or not
    assert paced_budget(child, BlobSettings.from_env({"SANJI_SYNC_BLOB_BUDGET": "3000"})) == 3000
    for _ in range(30):
        record_status(child, now, ok=True, error=None, reachable=True, bytes_up=20_000,
                      bytes_down=0, seconds=200.0)
    assert paced_budget(child, settings) == MIN_SCAN_BYTES
