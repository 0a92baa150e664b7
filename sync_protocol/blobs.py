"""Blob transfer bookkeeping: offers, wants with resume offsets, chunks, completion.

Blobs (scans) are named by their SHA-256 and travel after the events that
reference them. The child offers (hash, size); the parent answers with a want
(hash, offset) for each blob it lacks, the offset being what it already holds
from an interrupted transfer; the child sends chunks from there in its next
requests. The parent appends each chunk at the offset it expects and, at the
end, checks the SHA-256 of what it stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sync_protocol.errors import BlobMismatch, Malformed
from sync_protocol.fields import as_bytes, as_int, as_list

CHUNK_SIZE = 64 << 10
MAX_CHUNK = 1 << 20
MAX_BLOB = 64 << 20


@dataclass(frozen=True, slots=True)
class BlobOffer:
    sha256: bytes
    size: int


@dataclass(frozen=True, slots=True)
class BlobWant:
    """Send ``sha256`` from ``offset`` on."""

    sha256: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class BlobChunk:
    sha256: bytes
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class BlobProgress:
    """The receiver's durable record of a partly received blob."""

    sha256: bytes
    size: int
    received: int = 0

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def want(self) -> BlobWant:
        return BlobWant(self.sha256, self.received)

    def accept(self, chunk: BlobChunk) -> BlobProgress:
        """Progress after appending ``chunk``; a chunk that does not continue is refused.

        A chunk wholly inside what is already held is a harmless repeat.
        """
        if chunk.sha256 != self.sha256:
            raise BlobMismatch("chunk.sha256", "chunk of another blob")
        end = chunk.offset + len(chunk.data)
        if end <= self.received:
            return self
        if chunk.offset != self.received:
            raise BlobMismatch("chunk.offset",
                               f"expected offset {self.received}, got {chunk.offset}")
        if end > self.size:
            raise BlobMismatch("chunk.offset", "beyond the offered size")
        return BlobProgress(self.sha256, self.size, end)

    def finish(self, stored_sha256: bytes) -> None:
        """Check the hash of the stored whole; on mismatch the caller discards it."""
        if not self.complete:
            raise BlobMismatch("blob", f"{self.received} of {self.size} bytes received")
        if stored_sha256 != self.sha256:
            raise BlobMismatch("blob", "stored bytes do not hash to the blob's name")


def blob_name(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chunks_from(sha256: bytes, data: bytes, offset: int, budget: int,
                chunk_size: int = CHUNK_SIZE) -> list[BlobChunk]:
    """Chunks of ``data`` from ``offset`` totalling at most ``budget`` bytes."""
    out: list[BlobChunk] = []
    while offset < len(data) and budget > 0:
        n = min(chunk_size, budget, len(data) - offset)
        out.append(BlobChunk(sha256, offset, data[offset:offset + n]))
        offset += n
        budget -= n
    return out


def offers_to_wire(offers: Iterable[BlobOffer]) -> list[object]:
    return [[o.sha256, o.size] for o in offers]


def wants_to_wire(wants: Iterable[BlobWant]) -> list[object]:
    return [[w.sha256, w.offset] for w in wants]


def chunks_to_wire(chunks: Iterable[BlobChunk]) -> list[object]:
    return [[c.sha256, c.offset, c.data] for c in chunks]


def _pair(value: object, field: str) -> tuple[bytes, int]:
    p = as_list(value, field, max_len=2)
    if len(p) != 2:
        raise Malformed(field, "expected [sha256, n]")
    return as_bytes(p[0], f"{field}.sha256", size=32), as_int(p[1], f"{field}.n", hi=MAX_BLOB)


def offers_from_wire(value: object) -> list[BlobOffer]:
    return [BlobOffer(*_pair(v, "blob_offer"))
            for v in as_list(value, "blob_offers", max_len=10_000)]


def wants_from_wire(value: object) -> list[BlobWant]:
    return [BlobWant(*_pair(v, "blob_want")) for v in as_list(value, "blob_wants", max_len=10_000)]


def chunks_from_wire(value: object) -> list[BlobChunk]:
    out: list[BlobChunk] = []
    for v in as_list(value, "blob_chunks", max_len=10_000):
        c = as_list(v, "blob_chunk", max_len=3)
        if len(c) != 3:
            raise Malformed("blob_chunk", "expected [sha256, offset, data]")
        out.append(BlobChunk(as_bytes(c[0], "blob_chunk.sha256", size=32),
                             as_int(c[1], "blob_chunk.offset", hi=MAX_BLOB),
                             as_bytes(c[2], "blob_chunk.data", max_len=MAX_CHUNK)))
    return out
