"""The blob store every site shares, and the glue's bookkeeping that moves scans up.

A transfer cut in the middle resumes from the part's length (also in a new process: a new
store on the same directory); a part that does not hash to its name is discarded; a parent
that holds a scan answers an offer with no want, so nothing is sent twice.
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

from shared import sync_store as store
from shared.blob_store import BlobOutOfPlace, BlobStore, sniff_media_type
from shared.db import Base, make_engine
from shared.errors import InvalidInput
from shared.exchange import (
    BLOB_BUDGET,
    BLOB_BUDGET_ENV,
    BlobSettings,
    apply_wants,
    blob_refs,
    note_blobs,
    plan_blobs,
    receive_blobs,
)
from sync_protocol import BlobChunk, Event

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(200_000)
NOW_MS = 1_800_000_000_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


# -- the store ------------------------------------------------------------------------------


def test_put_is_atomic_content_addressed_and_idempotent(blobs: BlobStore) -> None:
    digest = blobs.put(JPEG)
    assert digest == sha(JPEG)
    assert blobs.path(digest) == blobs.root / digest[:2] / digest
    assert blobs.has(digest) and blobs.size(digest) == len(JPEG)
    assert blobs.get(digest) == JPEG and blobs.read(digest) == JPEG
    assert blobs.read_range(digest, 10, 5) == JPEG[10:15]
    assert blobs.put(JPEG) == digest
    assert sorted(p.name for p in blobs.path(digest).parent.iterdir()) == [digest]  # no temp
    assert blobs.received(digest) == len(JPEG) and blobs.verify(digest)
    assert sniff_media_type(JPEG[:16]) == "image/jpeg"


def test_names_must_be_sha256_hex(blobs: BlobStore) -> None:
    for bad in ("../../etc/passwd", "AB" * 32, "ab" * 31):
        with pytest.raises(InvalidInput):
            blobs.path(bad)
    assert not blobs.has("ab" * 32) and blobs.size("ab" * 32) is None


def test_a_transfer_cut_in_the_middle_resumes_from_the_part(blobs: BlobStore) -> None:
    digest = sha(JPEG)
    assert blobs.received(digest) == 0
    assert blobs.append(digest, 0, JPEG[:65_536]) == 65_536
    assert blobs.part_path(digest).name == f"{digest}.part"
    # the process dies; a new one on the same directory knows where to resume
    again = BlobStore(blobs.root)
    assert again.received(digest) == 65_536 and not again.has(digest)
    with pytest.raises(BlobOutOfPlace):
        again.append(digest, 0, JPEG[:10])  # not where the part ends: nothing written
    with pytest.raises(BlobOutOfPlace):
        again.append(digest, 70_000, JPEG[70_000:])
    assert again.received(digest) == 65_536
    again.append(digest, 65_536, JPEG[65_536:])
    assert again.finish(digest)
    assert again.get(digest) == JPEG and not again.part_path(digest).exists()
    with pytest.raises(BlobOutOfPlace):
        again.append(digest, len(JPEG), b"x")  # whole already: no stray part appears
    assert not again.part_path(digest).exists()


def test_a_part_that_does_not_hash_to_its_name_is_discarded(blobs: BlobStore) -> None:
    digest = sha(JPEG)
    forged = JPEG[:-1] + bytes([JPEG[-1] ^ 1])
    blobs.append(digest, 0, forged)
    assert blobs.received(digest) == len(JPEG)
    assert not blobs.finish(digest)
    assert not blobs.has(digest) and not blobs.part_path(digest).exists()
    assert blobs.received(digest) == 0  # the sender starts again from 0


def test_verify_notices_a_rotten_file(blobs: BlobStore) -> None:
    digest = blobs.put(JPEG)
    blobs.path(digest).write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
    assert not blobs.verify(digest)


# -- the glue around it ------------------------------------------------------------------------


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
