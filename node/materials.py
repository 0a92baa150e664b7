"""Scanned materials: what a file may be, how big, and where it is kept.

A file is accepted only when its first bytes say it is a JPEG, PNG, WebP or PDF (the name
and the browser's declared type are not trusted) and it is within the item's size limit for
that material. Files are content-addressed: ``blobs/<sha256[:2]>/<sha256>``, written to a
temporary name, flushed to disk and renamed, so a power cut leaves either the whole file or
none. The same scan added twice is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.catalogue import Material, ServiceItem
from shared.errors import DomainError, InvalidInput

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")
_READ_CHUNK = 64 * 1024


class TooLarge(DomainError):
    """An upload is larger than the limit of the material it is for."""

    code = "too_large"
    http_status = 413


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


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """An accepted upload, read into memory within its limit."""

    material_code: str
    data: bytes
    media_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def material_of(item: ServiceItem, code: str, field: str = "material_code") -> Material:
    """The item's material ``code``; :class:`InvalidInput` naming the allowed codes."""
    material = item.material(code)
    if material is None:
        allowed = ", ".join(m.code for m in item.materials) or "none"
        raise InvalidInput(field, f"{code!r} is not a material of item {item.code} ({allowed})")
    return material


def check_upload(material: Material, stream: IO[bytes], field: str = "file") -> CheckedFile:
    """Read at most the material's limit (plus one byte to notice more) and check the type."""
    limit = material.max_bytes
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise TooLarge(field, f"larger than the limit of {limit} bytes for {material.code}")
    data = b"".join(chunks)
    if not data:
        raise InvalidInput(field, "the file is empty")
    media_type = sniff_media_type(data[:16])
    if media_type is None:
        raise InvalidInput(field, "not an image (JPEG, PNG, WebP) or a PDF")
    return CheckedFile(material.code, data, media_type, hashlib.sha256(data).hexdigest())


class BlobStore:
    """Files named by their SHA-256 under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise InvalidInput("sha256", "not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

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
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
