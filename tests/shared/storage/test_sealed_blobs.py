"""Scans sealed at rest: chunked AES-GCM under the site's data key, read back as plaintext,
named and offset by the plaintext, clear files of an earlier release still readable."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from shared.storage.blob_store import BlobOutOfPlace, BlobStore
from shared.storage.sealing import (
    SCAN_CHUNK,
    DataKeys,
    ScanSealer,
    SealError,
    create_data_key,
    load_data_keys,
)

ID_NUMBER = b"431002198001010017"


def _scan(size: int) -> bytes:
    """A fake PNG of ``size`` bytes with an ID number inside (as a scan of a card holds it)."""
    body = (b"\x89PNG\r\n\x1a\n" + ID_NUMBER * (size // len(ID_NUMBER) + 1))[:size]
    return body


def _store(tmp_path: Path, key: bytes = b"k" * 32) -> BlobStore:
    return BlobStore(tmp_path / "blobs", ScanSealer(DataKeys(key)))


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.parametrize("size", [0, 1, SCAN_CHUNK - 1, SCAN_CHUNK, 3 * SCAN_CHUNK + 17])
def test_put_seals_and_reads_back_by_plaintext_offsets(tmp_path: Path, size: int) -> None:
    store = _store(tmp_path)
    data = _scan(size)
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.is_sealed(sha)
    assert store.get(sha) == data
    assert store.size(sha) == size == store.received(sha)
    assert store.verify(sha)
    for offset, length in [(0, 10), (SCAN_CHUNK - 5, 10), (size - 3, 100), (size + 5, 4),
                           (7, 2 * SCAN_CHUNK)]:
        offset = max(offset, 0)
        assert store.read_range(sha, offset, length) == data[offset:offset + length]
    if size >= len(ID_NUMBER):
        assert ID_NUMBER not in _all_bytes(tmp_path / "blobs")


def test_transfer_in_parts_is_sealed_and_finishes_sealed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _scan(2 * SCAN_CHUNK + 999)
    sha = hashlib.sha256(data).hexdigest()
    offset = 0
    for size in (1000, 70_000, 5, 100_000):  # pieces of any size, as the exchange sends them
        piece = data[offset:offset + size]
        assert store.append(sha, offset, piece) == offset + len(piece)
        offset += len(piece)
        assert store.received(sha) == offset
        assert ID_NUMBER not in _all_bytes(tmp_path / "blobs")
    with pytest.raises(BlobOutOfPlace):
        store.append(sha, 3, b"x")
    store.append(sha, offset, data[offset:])
    assert store.finish(sha)
    assert not store.part_path(sha).exists()
    assert store.is_sealed(sha) and store.get(sha) == data and store.verify(sha)
    assert ID_NUMBER not in _all_bytes(tmp_path / "blobs")


def test_a_record_torn_by_a_power_cut_is_cut_off(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _scan(5000)
    sha = hashlib.sha256(data).hexdigest()
    store.append(sha, 0, data[:3000])
    with store.part_path(sha).open("ab") as handle:
        handle.write(b"\x00\x00\x10\x00" + b"torn")  # a record header and a few bytes of it
    assert store.received(sha) == 3000
    store.append(sha, 3000, data[3000:])
    assert store.finish(sha) and store.get(sha) == data


def test_a_part_that_does_not_hash_to_its_name_is_discarded(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = hashlib.sha256(b"something else").hexdigest()
    store.append(sha, 0, _scan(100))
    assert not store.finish(sha)
    assert store.received(sha) == 0


def test_clear_files_of_an_earlier_release_still_read(tmp_path: Path) -> None:
    data = _scan(SCAN_CHUNK + 10)
    sha = BlobStore(tmp_path / "blobs").put(data)  # no sealer: as before sealing
    store = _store(tmp_path)
    assert not store.is_sealed(sha)
    assert store.get(sha) == data and store.size(sha) == len(data) and store.verify(sha)
    assert store.read_range(sha, SCAN_CHUNK, 5) == data[SCAN_CHUNK:SCAN_CHUNK + 5]
    # a clear part is started again, sealed
    other = _scan(300)
    other_sha = hashlib.sha256(other).hexdigest()
    BlobStore(tmp_path / "blobs").append(other_sha, 0, other[:100])
    assert store.received(other_sha) == 0
    store.append(other_sha, 0, other)
    assert store.finish(other_sha) and store.is_sealed(other_sha)


def test_tampering_moving_and_the_wrong_key_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = _scan(2 * SCAN_CHUNK)
    sha = store.put(data)
    path = store.path(sha)
    sealed = bytearray(path.read_bytes())
    sealed[-1] ^= 1
    path.write_bytes(bytes(sealed))
    assert not store.verify(sha)
    with pytest.raises(SealError):
        store.read_range(sha, SCAN_CHUNK + 1, 1)
    assert store.read_range(sha, 0, 5) == data[:5]  # the first chunk is intact
    # a sealed file copied under another name does not open
    other = store.put(_scan(50))
    os.replace(store.path(other), store.path(other).with_name("x"))
    store.path(other).write_bytes(store.path(sha).read_bytes())
    assert not store.verify(other)
    # another site's key opens nothing
    stranger = _store(tmp_path, b"z" * 32)
    fresh = store.put(_scan(10))
    with pytest.raises(SealError):
        stranger.get(fresh)


def test_a_retired_key_still_opens_what_it_sealed(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    create_data_key(keys)
    old = BlobStore(tmp_path / "blobs", ScanSealer(load_data_keys(keys)))
    sha = old.put(_scan(500))
    (keys / "data.key").rename(keys / "data-1.key")
    create_data_key(keys)
    rotated = BlobStore(tmp_path / "blobs", ScanSealer(load_data_keys(keys)))
    assert rotated.get(sha) == _scan(500)
    assert oct((keys / "data.key").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileNotFoundError):
        load_data_keys(tmp_path / "nowhere")


def test_chunks_swapped_on_disk_do_not_open(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sha = store.put(_scan(3 * SCAN_CHUNK))
    path = store.path(sha)
    raw = path.read_bytes()
    header, stride = 28, 12 + SCAN_CHUNK + 16
    first, second = raw[header:header + stride], raw[header + stride:header + 2 * stride]
    path.write_bytes(raw[:header] + second + first + raw[header + 2 * stride:])
    with pytest.raises(SealError):
        store.read_range(sha, 0, 1)
    assert not store.verify(sha)


def test_clear_files_of_an_earlier_release_are_sealed_once(tmp_path: Path) -> None:
    clear = BlobStore(tmp_path / "blobs")
    scans = [_scan(n) for n in (100, SCAN_CHUNK + 1)]
    names = [clear.put(s) for s in scans]
    rotten = clear.put(_scan(300))
    clear.path(rotten).write_bytes(_scan(299) + b"!")  # no longer hashes to its name
    store = _store(tmp_path)
    assert store.seal_clear_files() == 2
    assert all(store.is_sealed(n) for n in names)
    assert [store.get(n) for n in names] == scans
    assert not store.is_sealed(rotten) and not store.verify(rotten)
    assert ID_NUMBER not in b"".join(store.path(n).read_bytes() for n in names)
    clear.put(_scan(50))  # written in clear after the pass (an older process): left alone
    assert store.seal_clear_files() == 0
