"""Scanned materials on disk, named by their SHA-256: the same store at every site.

A village writes a scan once at intake; a township or the hub receives it later in chunks
(see :mod:`shared.exchange`). Files live at ``<root>/<sha[:2]>/<sha>``. Whole files are
written to a temporary name, flushed to disk and renamed, so a power cut leaves either the
whole file or none. A transfer in progress is ``<sha>.part``: its length is what has been
received, every append is flushed before the exchange that brought it is answered, so the
sender resumes from there after a cut. When the part is complete its SHA-256 is checked;
a part that does not hash to its name is discarded and the transfer starts again.

Sealed at rest: a store given the site's scan sealer (every site's app is) writes each file
sealed chunk by chunk with AES-256-GCM (see :mod:`shared.storage.sealing`), marked by a
header; a file written in clear before sealing still reads. A part kept in clear by an
earlier release is started again, sealed. The SHA-256 that names a file is the plaintext's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.domain.errors import InvalidInput
from shared.storage.private_files import fsync_dir
from shared.storage.sealing import (
    NONCE_BYTES,
    PART_HEADER_BYTES,
    RECORD_HEADER_BYTES,
    SCAN_CHUNK,
    SCAN_HEADER_BYTES,
    TAG_BYTES,
    ScanSealer,
    SealError,
    parse_part_header,
    parse_scan_header,
    record_length,
)

try:  # serialises appends to one part between the processes of a hub
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")
"""What a scan may be: the types :func:`sniff_media_type` recognises."""
PART_SUFFIX = ".part"
SEALED_MARK = ".sealed"
"""A file in the store's root: every file written before sealing has been sealed."""
_READ_CHUNK = 1 << 20
_SHA256_HEX = re.compile("[0-9a-f]{64}")


class BlobOutOfPlace(Exception):
    """An append that does not continue the part where it ends (the sender must realign)."""


def sniff_media_type(head: bytes) -> str | None:
    """The media type the file's magic bytes announce, or ``None`` when not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def is_sha256_hex(text: str) -> bool:
    return len(text) == 64 and _SHA256_HEX.fullmatch(text) is not None


@contextlib.contextmanager
def _locked(handle: IO[bytes]) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class BlobStore:
    """Files named by their SHA-256 (lower-case hex) under one directory.

    With a :class:`~shared.storage.sealing.ScanSealer` every file written is sealed (see
    "Sealed at rest" below); reads open sealed files and clear ones (written before sealing,
    or by a store without a sealer) alike. Sizes, offsets and digests are always the
    plaintext's: the exchange and the protocol never see the sealed form.
    """

    def __init__(self, root: Path, sealer: ScanSealer | None = None) -> None:
        self.root = Path(root)
        self.sealer = sealer

    # -- whole files ----------------------------------------------------------------------
    def path(self, sha256: str) -> Path:
        if not is_sha256_hex(sha256):
            raise InvalidInput("sha256", "not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        """The size of the whole file, ``None`` when it is not held (yet)."""
        try:
            with self.path(sha256).open("rb") as handle:
                sealed = parse_scan_header(handle.read(SCAN_HEADER_BYTES))
                if sealed is not None:
                    return sealed[2]
                return os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            return None

    def is_sealed(self, sha256: str) -> bool:
        """Whether the whole file is held sealed."""
        with self.path(sha256).open("rb") as handle:
            return parse_scan_header(handle.read(SCAN_HEADER_BYTES)) is not None

    def put(self, data: bytes) -> str:
        """Store ``data`` durably (once) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        self._write_whole(digest, _pieces_of(data), len(data))
        return digest

    def _write_whole(self, sha256: str, pieces: Iterable[bytes], size: int) -> None:
        """Write the whole file from its plaintext ``pieces`` (sealed when this store seals),
        to a temporary name, flushed and renamed."""
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                if self.sealer is None:
                    for piece in pieces:
                        handle.write(piece)
                else:
                    _write_sealed(handle, self.sealer, sha256, pieces, size)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)

    def get(self, sha256: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when it is not held."""
        return b"".join(self._plaintext(sha256))

    read = get  # the name the node's views used first

    def read_range(self, sha256: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes of the whole file from ``offset`` (what a chunk carries)."""
        with self.path(sha256).open("rb") as handle:
            header = handle.read(SCAN_HEADER_BYTES)
            sealed = parse_scan_header(header)
            if sealed is None:
                handle.seek(offset)
                return handle.read(length)
            key_id, chunk, size = sealed
            end = min(offset + max(length, 0), size)
            if offset >= end:
                return b""
            first, last = offset // chunk, (end - 1) // chunk
            pieces = [_read_chunk(handle, self._opener(), key_id, sha256, index, chunk, size)
                      for index in range(first, last + 1)]
            joined = b"".join(pieces)
            return joined[offset - first * chunk:end - first * chunk]

    def verify(self, sha256: str) -> bool:
        """Whether the held file still hashes to its name (a disk can rot)."""
        digest = hashlib.sha256()
        try:
            for piece in self._plaintext(sha256):
                digest.update(piece)
        except FileNotFoundError:
            return False
        except SealError:
            return False
        return digest.hexdigest() == sha256

    def _opener(self) -> ScanSealer:
        if self.sealer is None:
            raise SealError("a sealed scan, and this store holds no data key")
        return self.sealer

    def _plaintext(self, sha256: str) -> Iterator[bytes]:
        """The whole file's plaintext, piece by piece."""
        with self.path(sha256).open("rb") as handle:
            header = handle.read(SCAN_HEADER_BYTES)
            sealed = parse_scan_header(header)
            if sealed is None:
                yield header
                while block := handle.read(_READ_CHUNK):
                    yield block
                return
            key_id, chunk, size = sealed
            for index in range(-(-size // chunk)):
                yield _read_chunk(handle, self._opener(), key_id, sha256, index, chunk, size)

    def seal_clear_files(self, limit: int = 1_000_000) -> int:
        """Seal the whole files an earlier release (or a store without a sealer) wrote in
        clear, each checked against its name first (a file that does not hash to it is left
        as it is, for :meth:`verify` to report); at most ``limit`` files are looked at.
        Returns how many were sealed. A mark file records a complete pass, so later starts
        look at nothing."""
        if self.sealer is None or (self.root / SEALED_MARK).exists():
            return 0
        sealed = looked = 0
        for directory in sorted(self.root.glob("??")) if self.root.is_dir() else []:
            for path in sorted(directory.iterdir()):
                if looked >= limit:
                    return sealed
                looked += 1
                if not is_sha256_hex(path.name) or self.is_sealed(path.name):
                    continue
                if not self.verify(path.name):
                    continue
                self._write_whole(path.name, self._plaintext(path.name),
                                  path.stat().st_size)
                sealed += 1
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / SEALED_MARK).write_bytes(b"")
        return sealed

    # -- transfers in progress ------------------------------------------------------------
    def part_path(self, sha256: str) -> Path:
        whole = self.path(sha256)
        return whole.with_name(whole.name + PART_SUFFIX)

    def received(self, sha256: str) -> int:
        """How much of ``sha256`` is held: its size when whole, else the part's length."""
        whole = self.size(sha256)
        if whole is not None:
            return whole
        part = self.part_path(sha256)
        try:
            handle = part.open("rb")
        except FileNotFoundError:
            return 0
        with handle:
            layout = _part_layout(handle)
        if layout.key_id is None and self.sealer is not None and layout.plain_end:
            # kept in clear by an earlier release: started again, sealed
            part.unlink(missing_ok=True)
            return 0
        return layout.plain_end

    def append(self, sha256: str, offset: int, data: bytes) -> int:
        """Append ``data`` at ``offset`` to the part and flush it to disk; the new length.

        ``offset`` must be where the part ends (:class:`BlobOutOfPlace` otherwise): the
        caller decides what a repeat is; here only a continuation is written.
        """
        if self.has(sha256):
            raise BlobOutOfPlace(f"{sha256} is already whole")
        part = self.part_path(sha256)
        part.parent.mkdir(parents=True, exist_ok=True)
        created = not part.exists()
        with part.open("a+b") as handle, _locked(handle):
            handle.seek(0)
            layout = _part_layout(handle)
            if self.sealer is not None and layout.key_id != self.sealer.key_id:
                handle.truncate(0)  # kept in clear, or under an earlier key: start again
                layout = _PartLayout(self.sealer.key_id, 0, 0)
            end = layout.plain_end
            if offset != end:
                raise BlobOutOfPlace(f"the part of {sha256} ends at {end}, not {offset}")
            if layout.byte_end != os.fstat(handle.fileno()).st_size:
                handle.truncate(layout.byte_end)  # a record torn by a power cut
            if self.sealer is None:
                if layout.key_id is not None:
                    raise SealError(f"the part of {sha256} is sealed; this store holds no key")
                handle.write(data)
            else:
                if layout.byte_end == 0:
                    handle.write(self.sealer.part_header())
                handle.write(self.sealer.seal_record(sha256, end, data))
            handle.flush()
            os.fsync(handle.fileno())
            end += len(data)
        if created:
            fsync_dir(part.parent)
        return end

    def finish(self, sha256: str) -> bool:
        """Check the part's SHA-256 and make it the whole file; a mismatch discards the part.

        True when the file is now held (also when it already was)."""
        if self.has(sha256):
            self.discard(sha256)
            return True
        part = self.part_path(sha256)
        try:
            handle = part.open("rb")
        except FileNotFoundError:
            return False
        with handle, _locked(handle):
            layout = _part_layout(handle)
            digest = hashlib.sha256()
            try:
                for piece in _part_plaintext(handle, layout, self.sealer, sha256):
                    digest.update(piece)
            except SealError:
                part.unlink(missing_ok=True)
                return False
            if digest.hexdigest() != sha256:
                part.unlink(missing_ok=True)
                return False
            if layout.key_id is None and self.sealer is None:
                os.replace(part, self.path(sha256))
            else:
                self._write_whole(sha256, _part_plaintext(handle, layout, self.sealer, sha256),
                                  layout.plain_end)
                part.unlink(missing_ok=True)
        fsync_dir(part.parent)
        return True

    def discard(self, sha256: str) -> None:
        """Forget a part (it was wrong, or the whole file is already here)."""
        self.part_path(sha256).unlink(missing_ok=True)


# -- sealed at rest ------------------------------------------------------------------------------
# A sealed whole file: a header (magic, key id, chunk size, plaintext size), then each chunk of
# ``SCAN_CHUNK`` plaintext bytes (the last may be shorter) as nonce + AES-GCM body + tag.
# A sealed part: a header (magic, key id), then one record per append: its plaintext length,
# nonce, AES-GCM body and tag, bound to its plaintext offset. A record torn by a power cut is
# cut off by the next append; the part's length is the sum of its whole records.


@dataclass(frozen=True, slots=True)
class _PartLayout:
    key_id: bytes | None
    plain_end: int
    byte_end: int


def _part_layout(handle: IO[bytes]) -> _PartLayout:
    """Where the part's whole records end (plaintext and file offsets)."""
    file_size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    key_id = parse_part_header(handle.read(PART_HEADER_BYTES))
    if key_id is None:
        return _PartLayout(None, file_size, file_size)
    position, plain = PART_HEADER_BYTES, 0
    while position + RECORD_HEADER_BYTES <= file_size:  # each record moves position on
        handle.seek(position)
        length = record_length(handle.read(RECORD_HEADER_BYTES))
        record_end = position + RECORD_HEADER_BYTES + NONCE_BYTES + length + TAG_BYTES
        if record_end > file_size:
            break
        position, plain = record_end, plain + length
    return _PartLayout(key_id, plain, position)


def _part_plaintext(handle: IO[bytes], layout: _PartLayout, sealer: ScanSealer | None,
                    sha256: str) -> Iterator[bytes]:
    if layout.key_id is None:
        handle.seek(0)
        left = layout.byte_end
        while left > 0 and (block := handle.read(min(_READ_CHUNK, left))):
            left -= len(block)
            yield block
        return
    if sealer is None:
        raise SealError(f"the part of {sha256} is sealed; this store holds no key")
    position, plain = PART_HEADER_BYTES, 0
    while position < layout.byte_end:  # each record moves position on
        handle.seek(position)
        length = record_length(handle.read(RECORD_HEADER_BYTES))
        body = handle.read(NONCE_BYTES + length + TAG_BYTES)
        yield sealer.open_record(layout.key_id, sha256, plain, body)
        position += RECORD_HEADER_BYTES + len(body)
        plain += length


def _pieces_of(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), _READ_CHUNK):
        yield data[start:start + _READ_CHUNK]


def _write_sealed(handle: IO[bytes], sealer: ScanSealer, sha256: str, pieces: Iterable[bytes],
                  size: int) -> None:
    handle.write(sealer.scan_header(size))
    buffer, index, written = bytearray(), 0, 0
    for piece in pieces:
        buffer += piece
        while len(buffer) >= SCAN_CHUNK:  # each pass takes a chunk off the buffer
            handle.write(sealer.seal_chunk(sha256, index, size, bytes(buffer[:SCAN_CHUNK])))
            del buffer[:SCAN_CHUNK]
            index, written = index + 1, written + SCAN_CHUNK
    if buffer:
        handle.write(sealer.seal_chunk(sha256, index, size, bytes(buffer)))
        written += len(buffer)
    if written != size:
        raise ValueError(f"scan {sha256}: {written} bytes sealed, {size} announced")


def _read_chunk(handle: IO[bytes], sealer: ScanSealer, key_id: bytes, sha256: str,
                index: int, chunk: int, size: int) -> bytes:
    plain_length = min(chunk, size - index * chunk)
    stride = NONCE_BYTES + chunk + TAG_BYTES
    handle.seek(SCAN_HEADER_BYTES + index * stride)
    body = handle.read(NONCE_BYTES + plain_length + TAG_BYTES)
    if len(body) != NONCE_BYTES + plain_length + TAG_BYTES:
        raise SealError(f"scan {sha256} is cut short at chunk {index}")
    return sealer.open_chunk(key_id, sha256, index, size, body)


def _digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()
