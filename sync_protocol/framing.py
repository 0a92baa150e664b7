"""Frames: the bytes of one message, authenticated by the sending hop.

Layout (all integers big-endian)::

    "SJ" | version u8 | kind u8 | codec u8 | [dict id u32 if codec 2]
         | body length uvarint (decompressed) | sender key id (8)
         | compressed body | Ed25519 signature (64)

The signature covers ``b"sanji/frame/1\\0"`` followed by every byte before it,
so the receiver checks it before decompressing anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync_protocol import statements
from sync_protocol.canonical import decode
from sync_protocol.compression import Codec, ZstdDictionary, compress, decompress
from sync_protocol.errors import (
    KeyUnknown,
    LocalProtocolError,
    Malformed,
    TooLarge,
    VersionUnsupported,
)
from sync_protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, SiteKey, verify

MAGIC = b"SJ"
WIRE_VERSION = 1
READABLE_VERSIONS = (1,)
"""Wire versions this release reads; the previous one stays here for a year."""

MAX_FRAME = 4 << 20
MAX_BODY = 32 << 20


class Kind(IntEnum):
    """What a frame carries."""

    REQUEST = 1
    RESPONSE = 2
    REFUSAL = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """A verified, decompressed and decoded frame."""

    version: int
    kind: Kind
    codec: Codec
    key_id: bytes
    body: object
    digest: bytes
    size: int


def frame_digest(data: bytes) -> bytes:
    """SHA-256 of a whole frame: how a response names the request it answers."""
    return hashlib.sha256(data).digest()


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    for _ in range(10):
        if pos >= len(data):
            raise Malformed("frame.length", "truncated")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7
    raise Malformed("frame.length", "varint too long")


def encode_frame(kind: Kind, body: bytes, key: SiteKey, *, codec: Codec = Codec.ZSTD,
                 dictionary: ZstdDictionary | None = None, version: int = WIRE_VERSION,
                 level: int | None = None) -> bytes:
    """Compress ``body`` (deterministic CBOR), frame it and sign it with ``key``."""
    if codec is Codec.ZSTD_DICT and dictionary is None:
        raise LocalProtocolError("dictionary", "codec zstd+dict needs a dictionary")
    head = bytearray(MAGIC)
    head += bytes([version, int(kind), int(codec)])
    if codec is Codec.ZSTD_DICT:
        assert dictionary is not None
        head += dictionary.dict_id.to_bytes(4, "big")
    head += uvarint(len(body))
    head += key.key_id
    head += compress(body, codec, dictionary, level)
    signed = bytes(head)
    return signed + key.sign(statements.FRAME + signed).value


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The parsed, not yet verified, head of a frame."""

    version: int
    kind: Kind
    codec: Codec
    dict_id: int
    declared: int
    key_id: bytes
    body: bytes
    signed: bytes
    signature: bytes
    max_body: int
    dictionaries: Mapping[int, ZstdDictionary]

    def open(self) -> object:
        """Decompress (bounded) and decode the body, without checking the signature."""
        raw = decompress(self.body, self.codec, declared=self.declared, limit=self.max_body,
                         dictionaries=self.dictionaries, dict_id=self.dict_id)
        return decode(raw, field="frame.body", max_size=self.max_body)


def peek_frame(data: bytes, *, dictionaries: Mapping[int, ZstdDictionary],
               max_frame: int = MAX_FRAME, max_body: int = MAX_BODY) -> FrameHeader:
    """Parse a frame's header: size, magic, version, kind, codec; nothing is verified."""
    if len(data) > max_frame:
        raise TooLarge("frame", f"{len(data)} bytes exceeds {max_frame}")
    if len(data) < 7 + KEY_ID_SIZE + SIGNATURE_SIZE or data[:2] != MAGIC:
        raise Malformed("frame", "not a frame")
    version, kind_b, codec_b = data[2], data[3], data[4]
    if version not in READABLE_VERSIONS:
        raise VersionUnsupported(
            "frame.version",
            f"version {version}; readable: {', '.join(map(str, READABLE_VERSIONS))}",
        )
    try:
        kind = Kind(kind_b)
        codec = Codec(codec_b)
    except ValueError:
        raise Malformed("frame", "unknown kind or codec") from None
    pos = 5
    dict_id = 0
    if codec is Codec.ZSTD_DICT:
        dict_id = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
    declared, pos = _read_uvarint(data, pos)
    if declared > max_body:
        raise TooLarge("frame.length", f"declared body of {declared} bytes exceeds {max_body}")
    key_id = data[pos:pos + KEY_ID_SIZE]
    pos += KEY_ID_SIZE
    end = len(data) - SIGNATURE_SIZE
    if pos > end:
        raise Malformed("frame", "truncated")
    return FrameHeader(version, kind, codec, dict_id, declared, key_id, data[pos:end],
                       data[:end], data[end:], max_body, dictionaries)


def decode_frame(
    data: bytes,
    key_for: Callable[[bytes], Ed25519PublicKey],
    *,
    dictionaries: Mapping[int, ZstdDictionary],
    max_frame: int = MAX_FRAME,
    max_body: int = MAX_BODY,
    introduce: Callable[[object], None] | None = None,
) -> Frame:
    """Check size, version and signature, then decompress (bounded) and decode.

    ``key_for`` maps the sender key id to its public key or raises
    (``KeyUnknown``, ``KeyRevoked``); which site the key must belong to is checked
    by the caller once the body names the sender. When the key is unknown and
    ``introduce`` is given, the body is opened first (still bounded) and handed
    to ``introduce``, which may adopt hub-signed credentials it carries; the key
    is then looked up once more.
    """
    head = peek_frame(data, dictionaries=dictionaries, max_frame=max_frame, max_body=max_body)
    body: object = None
    try:
        public = key_for(head.key_id)
    except KeyUnknown:
        if introduce is None:
            raise
        body = head.open()
        introduce(body)
        public = key_for(head.key_id)
    verify(public, head.signature, statements.FRAME + head.signed, field="frame.signature")
    if body is None:
        body = head.open()
    return Frame(head.version, head.kind, head.codec, head.key_id, body, frame_digest(data),
                 len(data))
