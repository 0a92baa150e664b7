"""Checking an uploaded scan before it is kept, wherever scans come in: a village's intake,
a window, the city's online hall.

A file is accepted only when its first bytes say it is a JPEG, PNG, WebP or PDF (the name
and the browser's declared type are not trusted) and it is within the item's size limit for
that material; an image that is also a ZIP archive, or a PNG declaring more pixels than a
scan has, is refused. Accepted files go to the site's content-addressed
:class:`~shared.storage.blob_store.BlobStore`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import IO

from shared.domain.catalogue import Material, ServiceItem
from shared.domain.composites import OneFormView
from shared.domain.errors import DomainError, InvalidInput
from shared.storage.blob_store import sniff_media_type

_READ_CHUNK = 64 * 1024
MAX_IMAGE_PIXELS = 100_000_000
"""The most pixels a scan's PNG header may declare (an A3 page at 1200 dpi is 28 million):
more is a decompression bomb for whoever opens it."""
_ZIP_END = b"PK\x05\x06"
_ZIP_TAIL = 65_557
"""A ZIP archive's end record sits in its last 22 + 65,535 bytes."""


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


def material_of(item: ServiceItem | OneFormView, code: str,
                field: str = "material_code") -> Material:
    """The item's material ``code``; :class:`InvalidInput` naming the allowed codes."""
    material = item.material(code)
    if material is None:
        allowed = ", ".join(m.code for m in item.materials) or "none"
        raise InvalidInput(field, f"{code!r} is not a material of item {item.code} ({allowed})")
    return material


def _check_image(data: bytes, field: str) -> None:
    """Refuse an image that is also a ZIP archive (a polyglot: a viewer shows the picture,
    an unzip tool opens what was hidden after it) and a PNG that declares more pixels than
    any scan has. Sites store and forward scans without decoding them; this protects whoever
    opens one."""
    if _ZIP_END in data[-_ZIP_TAIL:]:
        raise InvalidInput(field, "an image with a ZIP archive inside is not accepted")
    if data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        if width * height > MAX_IMAGE_PIXELS:
            raise InvalidInput(field, f"the image declares {width}x{height} pixels, more than "
                                      f"{MAX_IMAGE_PIXELS} a scan may have")


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
    if media_type.startswith("image/"):
        _check_image(data, field)
    return CheckedFile(material.code, data, media_type, hashlib.sha256(data).hexdigest())
