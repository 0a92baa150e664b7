"""Case ids derived from the event that opened the case.

A case opened by event ``(origin, epoch, seq)`` gets the id
``case_id_for(origin, epoch, seq)``, so the wire can name it by that key (a few bytes that
compress to almost nothing in a batch) instead of 16 random bytes. The receiver derives the
id again and hashes the event with it: a wrong key gives a wrong hash, which the chain
signature refuses, so a derived id is as trustworthy as one carried in full.
"""

from __future__ import annotations

import hashlib
import uuid

from sync_protocol.canonical import encode

CASE = "sanji/case/1"


def case_id_for(origin: str, epoch: int, seq: int) -> uuid.UUID:
    """The id of the case opened by event ``(origin, epoch, seq)``: the first 16 bytes of
    SHA-256 over CBOR ``["sanji/case/1", origin, epoch, seq]``, marked as an RFC 9562
    version-8 UUID (so it never collides with a random version-4 id)."""
    raw = bytearray(hashlib.sha256(encode([CASE, origin, epoch, seq])).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return uuid.UUID(bytes=bytes(raw))


def is_derived(case_id: uuid.UUID, origin: str, epoch: int, seq: int) -> bool:
    """Whether ``case_id`` is the id derived from ``(origin, epoch, seq)``."""
    return case_id.version == 8 and case_id == case_id_for(origin, epoch, seq)
