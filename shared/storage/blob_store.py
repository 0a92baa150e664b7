"""Scanned materials on disk, named by their SHA-256: the same store at every site.

A village writes a scan once at intake; a township or the hub receives it later in chunks
(see :mod:`shared.exchange`). Files live at ``<root>/<sha[:2]>/<sha>``. Whole files are
written to a temporary name, flushed to disk and renamed, so a power cut leaves either the
whole file or none. A transfer in progress is ``<sha>.part``: its length is what has been
received, every append is flushed before the exchange that brought it is answered, so the
sender resumes from there after a cut. When the part is complete its SHA-256 is checked;
a part that does not hash to its name is discarded and the transfer starts again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from shared.domain.errors import InvalidInput

try:  # serialises appends to one part between the processes of a hub
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")
"""What a scan may be: the types :func:`sniff_media_type` recognises."""
PART_SUFFIX = ".part"
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


def _fsync_dir(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` survive a power cut."""
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    """Files named by their SHA-256 (lower-case hex) under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

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
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def put(self, data: bytes) -> str:
        """Store ``data`` durably (once) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return digest

    def get(self, sha256: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when it is not held."""
        return self.path(sha256).read_bytes()

    read = get  # the name the node's views used first

    def read_range(self, sha256: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes of the whole file from ``offset`` (what a chunk carries)."""
        with self.path(sha256).open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def verify(self, sha256: str) -> bool:
        """Whether the held file still hashes to its name (a disk can rot)."""
        try:
            return _digest_of(self.path(sha256)) == sha256
        except FileNotFoundError:
            return False

    # -- transfers in progress ------------------------------------------------------------
    def part_path(self, sha256: str) -> Path:
        whole = self.path(sha256)
        return whole.with_name(whole.name + PART_SUFFIX)

    def received(self, sha256: str) -> int:
        """How much of ``sha256`` is held: its size when whole, else the part's length."""
        whole = self.size(sha256)
        if whole is not None:
            return whole
        try:
            return self.part_path(sha256).stat().st_size
        except FileNotFoundError:
            return 0

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
        with part.open("ab") as handle, _locked(handle):
            end = os.fstat(handle.fileno()).st_size
            if offset != end:
                raise BlobOutOfPlace(f"the part of {sha256} ends at {end}, not {offset}")
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            end += len(data)
        if created:
            _fsync_dir(part.parent)
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
            digest = hashlib.sha256()
            while block := handle.read(_READ_CHUNK):
                digest.update(block)
            if digest.hexdigest() != sha256:
                part.unlink(missing_ok=True)
                return False
            os.replace(part, self.path(sha256))
        _fsync_dir(part.parent)
        return True

    def discard(self, sha256: str) -> None:
        """Forget a part (it was wrong, or the whole file is already here)."""
        self.part_path(sha256).unlink(missing_ok=True)


def _digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()
