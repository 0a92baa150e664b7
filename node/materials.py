"""Scanned materials: what a file may be, how big, and where it is kept.

A file is accepted only when its first bytes say it is a JPEG, PNG, WebP or PDF (the name
and the browser's declared type are not trusted) and it is within the item's size limit for
that material. Files are content-addressed: ``blobs/<sha256[:2]>/<sha256>`` in the
:class:`~shared.storage.blob_store.BlobStore` every site shares (re-exported here), written to a
temporary name, flushed to disk and renamed, so a power cut leaves either the whole file or
none. The same scan added twice is stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

from shared.domain.catalogue import Material, ServiceItem
from shared.domain.errors import DomainError, InvalidInput
from shared.storage.blob_store import ACCEPTED_TYPES, BlobStore, sniff_media_type

__all__ = [
    "ACCEPTED_TYPES",
    "BlobStore",
    "CheckedFile",
    "TooLarge",
    "check_upload",
    "material_of",
    "sniff_media_type",
]

_READ_CHUNK = 64 * 1024


class TooLarge(DomainError):
    """An upload is larger than the limit of the material it is for."""

    code = "too_large"
    http_status = 413


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
