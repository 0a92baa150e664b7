"""Body codecs and bounded decompression.

A frame names its codec; the receiver decompresses at most the length the
frame declares (itself capped), so a zstd or gzip bomb costs it nothing beyond
that bound and is refused as ``TooLarge``.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

import zstandard

from sync_protocol.errors import LocalProtocolError, Malformed, TooLarge


class Codec(IntEnum):
    """How a frame's body is compressed (the byte after the message kind)."""

    NONE = 0
    ZSTD = 1
    ZSTD_DICT = 2
    GZIP = 3


ZSTD_LEVEL = 19
"""Every frame's level unless its sender chooses otherwise: links are slow, bytes count."""
ZSTD_LEVEL_LARGE = 12
LARGE_BODY = 32 * 1024
"""A body above this many bytes costs about 10 ms of CPU at level 19, and some 5 % more
bytes at level 12: a busy parent may choose the latter (``ParentExchange.large_level``)."""
MAX_WINDOW = 1 << 24


@dataclass(frozen=True, slots=True)
class ZstdDictionary:
    """A trained zstd dictionary, named on the wire by its 32-bit id."""

    dict_id: int
    data: bytes
    raw: bool = False
    """Raw content (a link's history), not a trained dictionary."""

    def zstd(self) -> zstandard.ZstdCompressionDict:
        kind = zstandard.DICT_TYPE_RAWCONTENT if self.raw else zstandard.DICT_TYPE_AUTO
        return zstandard.ZstdCompressionDict(self.data, dict_type=kind)

    @classmethod
    def from_bytes(cls, data: bytes) -> ZstdDictionary:
        zd = zstandard.ZstdCompressionDict(data)
        if zd.dict_id() == 0:
            raise LocalProtocolError("dictionary", "not a trained zstd dictionary")
        return cls(zd.dict_id(), data)


HISTORY_BYTES = 256 * 1024
"""A history dictionary is the last this many bytes of a request body."""
HISTORY_MAX_BODY = 64 * 1024
"""Bodies above this are compressed plainly: they carry their own context, and a second
level-19 pass over them would cost the sender for a few bytes."""


def history_dictionary(body: bytes) -> ZstdDictionary:
    """The raw-content zstd dictionary made of an earlier request body on the same link.

    Its id is the first 4 bytes of SHA-256 of the dictionary bytes (big-endian; 1 instead
    of 0, which names no dictionary); both sides compute it from the bytes they hold, so a
    child and a parent that disagree find out from the id, never from a wrong body."""
    data = body[-HISTORY_BYTES:]
    dict_id = int.from_bytes(hashlib.sha256(data).digest()[:4], "big") or 1
    return ZstdDictionary(dict_id, data, raw=True)


def train_dictionary(samples: Iterable[bytes], size: int = 16_384) -> ZstdDictionary:
    """Train a dictionary on sample bodies (e.g. encoded groups of past events)."""
    trained = zstandard.train_dictionary(size, list(samples))
    return ZstdDictionary(trained.dict_id(), trained.as_bytes())


def compress(body: bytes, codec: Codec, dictionary: ZstdDictionary | None = None,
             level: int | None = None) -> bytes:
    """``body`` compressed with ``codec`` (zstd at ``level``, 19 by default)."""
    if level is None:
        level = ZSTD_LEVEL
    if codec is Codec.NONE:
        return body
    if codec is Codec.GZIP:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        return c.compress(body) + c.flush()
    if codec is Codec.ZSTD_DICT:
        if dictionary is None:
            raise LocalProtocolError("dictionary", "codec zstd+dict needs a dictionary")
        return _compressor(level, dictionary).compress(body)
    return _compressor(level, None).compress(body)


_COMPRESSORS = threading.local()


def _compressor(level: int, dictionary: ZstdDictionary | None) -> zstandard.ZstdCompressor:
    """A compressor kept per thread (they are not thread-safe), so a dictionary's tables are
    not rebuilt for every frame."""
    held: dict[tuple[int, bytes], zstandard.ZstdCompressor] = (
        _COMPRESSORS.__dict__.setdefault("held", {}))
    key = (level, dictionary.data if dictionary is not None else b"")
    compressor = held.get(key)
    if compressor is None:
        if len(held) > 16:
            held.clear()
        zd = dictionary.zstd() if dictionary is not None else None
        compressor = zstandard.ZstdCompressor(level=level, dict_data=zd)
        held[key] = compressor
    return compressor


def decompress(data: bytes, codec: int, *, declared: int, limit: int,
               dictionaries: Mapping[int, ZstdDictionary], dict_id: int = 0) -> bytes:
    """Decompress into exactly ``declared`` bytes, never producing more than that.

    ``declared`` must itself be within ``limit``.
    """
    if declared > limit:
        raise TooLarge("frame.length", f"declared body of {declared} bytes exceeds {limit}")
    if codec == Codec.NONE:
        out = data
    elif codec == Codec.GZIP:
        d = zlib.decompressobj(31)
        try:
            out = d.decompress(data, declared + 1)
        except zlib.error:
            raise Malformed("frame.body", "not gzip") from None
        if len(out) > declared or d.unconsumed_tail:
            raise TooLarge("frame.body", "decompresses beyond its declared length")
        if not d.eof:
            raise Malformed("frame.body", "gzip stream is truncated")
    elif codec in (Codec.ZSTD, Codec.ZSTD_DICT):
        dctx = _decompressor(codec, dict_id, dictionaries)
        try:
            with dctx.stream_reader(io.BytesIO(data), read_across_frames=False) as reader:
                out = reader.read(declared + 1)
        except zstandard.ZstdError:
            raise Malformed("frame.body", "not zstd") from None
        if len(out) > declared:
            raise TooLarge("frame.body", "decompresses beyond its declared length")
    else:
        raise Malformed("frame.codec", f"unknown codec {codec}")
    if len(out) != declared:
        raise Malformed("frame.body", "body length differs from the declared length")
    return out


def _decompressor(codec: int, dict_id: int,
                  dictionaries: Mapping[int, ZstdDictionary]) -> zstandard.ZstdDecompressor:
    if codec == Codec.ZSTD:
        return zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    known = dictionaries.get(dict_id)
    if known is None:
        raise Malformed("frame.dictionary", f"unknown dictionary {dict_id}")
    return zstandard.ZstdDecompressor(
        dict_data=known.zstd(), max_window_size=MAX_WINDOW
    )
