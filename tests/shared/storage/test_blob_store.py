"""The blob store every site shares (:mod:`shared.storage.blob_store`).

A transfer cut in the middle resumes from the part's length (also in a new process: a new
store on the same directory); a part that does not hash to its name is discarded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from shared.domain.errors import InvalidInput
from shared.storage.blob_store import BlobOutOfPlace, BlobStore, sniff_media_type

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
