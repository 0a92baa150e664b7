"""Deterministic CBOR: the one encoding that is hashed, signed and sent.

Why CBOR and not canonical JSON: binary UUIDs, hashes and signatures travel as
raw bytes (JSON would base64 them, +33 %), small integers take one byte, and
map keys of messages are small integers. Deterministic form (RFC 7049 §3.9,
what ``cbor2``'s ``canonical=True`` writes): shortest integer and length
forms, definite lengths, map keys ordered by the length of their encoding and
then bytewise, floats in the shortest form that keeps the value. Two peers that
build the same value therefore hash the same bytes.
"""

from __future__ import annotations

import math
from typing import Any

import cbor2

from sync_protocol.errors import LocalProtocolError, Malformed, TooLarge

JsonValue = Any
"""A payload value: str, int, float, bool, None, list of values, or str-keyed map."""

MAX_PAYLOAD_DEPTH = 16


def encode(value: object) -> bytes:
    """Deterministic CBOR of ``value`` (ints, bytes, str, bool, None, float, list, dict)."""
    try:
        return cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise LocalProtocolError("value", f"cannot encode: {exc}") from exc


# Decoding untrusted bytes: cbor2 raises a handful of exception types on bad input;
# every one of them becomes Malformed here and nowhere else.
_DECODE_ERRORS = (
    cbor2.CBORDecodeError,
    ValueError,
    TypeError,
    OverflowError,
    RecursionError,
    MemoryError,
    LookupError,
    UnicodeDecodeError,
)


def decode(data: bytes, *, field: str, max_size: int) -> object:
    """Decode one CBOR item that must fill ``data`` exactly.

    ``max_size`` bounds the input; since every container element costs at least
    one input byte, the decoded value is bounded by it too.
    """
    if len(data) > max_size:
        raise TooLarge(field, f"{len(data)} bytes exceeds {max_size}")
    try:
        value = cbor2.loads(data)
    except _DECODE_ERRORS as exc:
        raise Malformed(field, f"not CBOR: {type(exc).__name__}") from None
    _check_plain(value, field)
    # Every sender writes deterministic CBOR, so the bytes must be exactly the encoding of
    # what they decode to: a key twice in a map (cbor2 keeps the last), an indefinite
    # length, or a longer form than needed differ, and one value has one encoding.
    try:
        same = cbor2.dumps(value, canonical=True) == data
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError, RecursionError):
        same = False
    if not same:
        raise Malformed(field, "not deterministic CBOR (a key twice, an indefinite length, "
                               "or a longer form than needed)")
    return value


_PLAIN = (int, float, str, bytes, bool, type(None))
_MIN_INT = -(2**64)
_MAX_INT = 2**64 - 1
MAX_DECODED_DEPTH = 64
"""The deepest nesting a message may have (events carry payloads of at most 16)."""


def _check_plain(value: object, field: str) -> None:
    """Refuse what cbor2 builds from tags and simple values (datetimes, decimals, sets,
    regular expressions, shared references, ``undefined``, bignums): messages are made of
    integers of at most 64 bits,
    floats, text, bytes, booleans, null, arrays and maps, nested at most
    :data:`MAX_DECODED_DEPTH` deep. Iterative, so no input can exhaust the stack."""
    pending: list[tuple[object, int]] = [(value, 0)]
    seen: set[int] = set()
    while pending:  # bounded: each container is entered once (shared ones are refused)
        item, depth = pending.pop()
        if type(item) is int and not _MIN_INT <= item <= _MAX_INT:
            raise Malformed(field, "an integer beyond 64 bits (a bignum tag)")
        if isinstance(item, _PLAIN):
            continue
        if not isinstance(item, list | dict) or type(item) not in (list, dict):
            raise Malformed(field, f"type {type(item).__name__} is not allowed")
        if depth >= MAX_DECODED_DEPTH:
            raise Malformed(field, "nested too deeply")
        if id(item) in seen:
            raise Malformed(field, "a shared or cyclic reference")
        seen.add(id(item))
        if isinstance(item, dict):
            for key, child in item.items():
                pending.append((key, depth + 1))
                pending.append((child, depth + 1))
        else:
            pending.extend((child, depth + 1) for child in item)


def check_payload(value: object, *, field: str = "payload", depth: int = 0) -> JsonValue:
    """Refuse anything an event payload may not hold (tags, bytes, NaN, non-str keys)."""
    if depth > MAX_PAYLOAD_DEPTH:
        raise Malformed(field, "nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise Malformed(field, "NaN and infinities are not allowed")
        return value
    if isinstance(value, list):
        for item in value:
            check_payload(item, field=field, depth=depth + 1)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Malformed(field, "map keys must be text")
            check_payload(item, field=f"{field}.{key}", depth=depth + 1)
        return value
    raise Malformed(field, f"type {type(value).__name__} is not allowed")
