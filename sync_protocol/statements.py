"""The exact byte strings that are signed, each under its own domain tag.

A domain tag in the first array element keeps a signature made for one purpose
from ever verifying as another (a receipt can never pass for a chain head).
"""

from __future__ import annotations

from sync_protocol.canonical import encode

HEAD = "sanji/head/1"
FRAME = b"sanji/frame/1\x00"
CERTIFICATE = "sanji/cert/1"
ROTATION = "sanji/rotate/1"
RECEIPT = "sanji/receipt/1"
RELEASE = "sanji/release/1"
ENROLMENT = "sanji/enrol/1"
GENESIS = "sanji/genesis/1"
LOOKUP = "sanji/lookup/1"
EVENT = 2
"""Version 2: the hash commits to the payload's digest (version 1 hashed the payload)."""


def head_statement(origin: str, epoch: int, seq: int, event_hash: bytes) -> bytes:
    """What an origin signs: its chain head, committing to every earlier event."""
    return encode([HEAD, origin, epoch, seq, event_hash])


def receipt_statement(origin: str, epoch: int, through_seq: int, at_ms: int) -> bytes:
    return encode([RECEIPT, origin, epoch, through_seq, at_ms])


def lookup_statement(site: str, client: str, acceptance_no: str, query_code: str,
                     at_ms: int) -> bytes:
    """What a site signs when it passes a citizen's status lookup to its parent: who asked
    (its own name for the client), for which pair, when."""
    return encode([LOOKUP, site, client, acceptance_no, query_code, at_ms])
