"""Typed reads of decoded CBOR: every wrong type or range becomes ``Malformed``.

Readers ignore map keys they do not know, so a newer peer may add optional
fields without breaking an older one (see "Versioning" in the spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from sync_protocol.errors import Malformed, TooLarge

T = TypeVar("T")

MAX_INT = 2**63 - 1


def as_map(value: object, field: str) -> Mapping[object, object]:
    if not isinstance(value, dict):
        raise Malformed(field, "expected a map")
    return value


def as_list(value: object, field: str, *, max_len: int) -> list[object]:
    if not isinstance(value, list):
        raise Malformed(field, "expected an array")
    if len(value) > max_len:
        raise TooLarge(field, f"{len(value)} items exceeds {max_len}")
    return value


def as_int(value: object, field: str, *, lo: int = 0, hi: int = MAX_INT) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(field, "expected an integer")
    if not lo <= value <= hi:
        raise Malformed(field, f"{value} outside [{lo}, {hi}]")
    return value


def as_str(value: object, field: str, *, max_len: int = 200) -> str:
    if not isinstance(value, str):
        raise Malformed(field, "expected text")
    if len(value) > max_len:
        raise TooLarge(field, f"text longer than {max_len}")
    return value


def as_bytes(value: object, field: str, *, size: int | None = None, max_len: int = 64) -> bytes:
    if not isinstance(value, bytes):
        raise Malformed(field, "expected a byte string")
    if size is not None and len(value) != size:
        raise Malformed(field, f"expected {size} bytes, got {len(value)}")
    if size is None and len(value) > max_len:
        raise TooLarge(field, f"more than {max_len} bytes")
    return value


def as_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise Malformed(field, "expected true or false")
    return value


def get(m: Mapping[object, object], key: int, field: str) -> object:
    """A required key of a message map."""
    if key not in m:
        raise Malformed(field, "missing")
    return m[key]


def opt(m: Mapping[object, object], key: int, default: T) -> object | T:
    """An optional key of a message map."""
    return m.get(key, default)
