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
    return value


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
