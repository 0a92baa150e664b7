"""The digest an event's hash commits to in place of its payload, and erased payloads.

An event's hash commits to its payload through a digest built from one leaf per top-level
key (SHA-256 of the key and its value). When a case's personal data is erased, each event
keeps the values that hold none and replaces the others; the erased payload carries the
leaves of what it replaced (``erased_digests``). Its digest, and so the event's hash and
its origin's signature, still come out as the original's: every site can check the kept
values and the event's place in its chain, and an erased event travels and is re-sent like
any other. A key the erased form adds that the original lacked is listed with an empty
leaf. Whether an erased payload may be accepted at all (only for a case the hub erased) is
the receiver's rule, :func:`unproven_erasures`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sync_protocol.canonical import JsonValue, encode

LEAF = "sanji/leaf/1"
PAYLOAD = "sanji/payload/1"
ERASED_MARK = "erased"
ERASED_DIGESTS = "erased_digests"
ERASED_EVENT = "erased"
"""The type of the hub's event that erases a case."""
_ADDED = ""
ERASURE_UNPROVEN = "erasure_unproven"
"""A refused run's code: it held an erased payload of a case the receiver does not know
as erased; the sender keeps it and sends it again (as after a ``gap``)."""


def leaf(key: str, value: JsonValue) -> bytes:
    """The digest of one top-level key and its value."""
    return hashlib.sha256(encode([LEAF, key, value])).digest()


def _combine(leaves: Mapping[str, bytes]) -> bytes:
    return hashlib.sha256(encode([PAYLOAD, dict(leaves)])).digest()


def is_erased(payload: Mapping[str, Any]) -> bool:
    """The payload is an erased one: it carries the leaves of the values it replaced."""
    return payload.get(ERASED_MARK) is True and isinstance(payload.get(ERASED_DIGESTS), dict)


def payload_digest(payload: Mapping[str, JsonValue]) -> bytes:
    """What an event's hash commits to: the original payload's digest, also when
    ``payload`` is its erased form."""
    if not is_erased(payload):
        return _combine({k: leaf(k, v) for k, v in payload.items()})
    replaced = payload[ERASED_DIGESTS]
    assert isinstance(replaced, dict)
    leaves: dict[str, bytes] = {}
    for key, value in payload.items():
        if key not in (ERASED_MARK, ERASED_DIGESTS) and key not in replaced:
            leaves[key] = leaf(key, value)
    for key, digest in replaced.items():
        if digest == _ADDED:
            continue
        leaves[key] = _leaf_from_hex(digest)
    return _combine(leaves)


def _leaf_from_hex(value: object) -> bytes:
    """A replaced value's leaf; anything but 64 hex digits makes a digest no hash matches."""
    if isinstance(value, str) and len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    return b"\x00"


def erased(original: Mapping[str, JsonValue], form: Mapping[str, JsonValue]
           ) -> dict[str, JsonValue]:
    """``form`` (what of ``original`` an erased case keeps, as the domain writes it) made
    into the erased payload: marked, with the leaf of every value it dropped or changed, so
    its digest is the original's."""
    out: dict[str, JsonValue] = {k: v for k, v in form.items()
                                 if k not in (ERASED_MARK, ERASED_DIGESTS)}
    replaced: dict[str, JsonValue] = {}
    for key, value in original.items():
        if key not in out or out[key] != value or key in (ERASED_MARK, ERASED_DIGESTS):
            replaced[key] = leaf(key, value).hex()
    for key in out:
        if key not in original:
            replaced[key] = _ADDED
    out[ERASED_MARK] = True
    out[ERASED_DIGESTS] = replaced
    return out


def unproven_erasures(events: Iterable[Any], *, hub_site: str,
                      erased_here: Callable[[uuid.UUID], bool]) -> list[Any]:
    """The events of ``events`` with an erased payload whose case the hub has not erased:
    no ``erased`` event of the hub's among ``events`` (already verified as a whole) nor held
    here (``erased_here``). Anyone holding an event can make its erased form; only the hub
    erases, so a relay cannot strip a live case of its content on the way."""
    listed = list(events)
    proven = {e.case_id for e in listed if e.type == ERASED_EVENT and e.origin == hub_site}
    return [e for e in listed if is_erased(e.payload) and e.case_id not in proven
            and not erased_here(e.case_id)]
