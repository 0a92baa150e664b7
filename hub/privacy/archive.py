"""Archiving closed cases: a signed record of the case, sealed at rest, and the case made
read-only.

The record holds the case's events as the hub stores them (key, type, actor, time, payload,
the chain's ``prev_hash`` and ``hash``) and the list of its scans with their SHA-256; it is
signed with the hub's site key (Ed25519 over ``DOMAIN`` and the canonical JSON of the record)
and written to ``archives/<case_id>.archive`` in the data directory, sealed with the data key
(AES-256-GCM bound to the case id), atomically. ``hub_archived_cases`` then marks the case:
a window action on it is refused (:class:`CaseArchived`, 409) before anything is committed.

:func:`verify_archive` opens a file, checks the seal (a flipped byte does not open) and the
signature against the hub's key that made it, found by its id among the hub's keys (an
archive rewritten by someone holding only the data key does not verify).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.privacy.tables import HubArchivedCase
from shared.domain.errors import DomainError
from shared.storage import sync_store
from shared.storage.private_files import replace_private
from shared.storage.sealing import DataKeys, SealedRecords, SealError
from sync_protocol import KeyRing, SiteKey
from sync_protocol.times import to_ms

ARCHIVE_DIR = "archives"
FORMAT = "sanji.case-archive.v1"
DOMAIN = b"sanji.case-archive.v1\n"
"""Prefixed to what is signed, so an archive's signature can sign nothing else."""


class CaseArchived(DomainError):
    """The case is archived: it takes no more events here."""

    code = "case_archived"
    http_status = 409


class ArchiveInvalid(DomainError):
    """An archive that does not open or whose signature does not verify."""

    code = "archive_invalid"


@dataclass(frozen=True, slots=True)
class Verified:
    case_id: str
    events: int
    scans: int
    archived_at: str


def archive_path(data_dir: Path, case_id: uuid.UUID | str) -> Path:
    return data_dir / ARCHIVE_DIR / f"{case_id}.archive"


def refuse_if_archived(session: Session, case_id: uuid.UUID) -> None:
    """Raise :class:`CaseArchived` for an archived case (the caller's work is then rolled
    back: nothing of it is written)."""
    if session.get(HubArchivedCase, case_id) is not None:
        raise CaseArchived("case_id", "the case is archived and read-only")


def closed_before(session: Session, before: datetime) -> list[uuid.UUID]:
    """Closed cases last changed before ``before`` and not archived yet."""
    archived = select(HubArchivedCase.case_id)
    return list(session.scalars(
        select(HubCase.case_id).where(HubCase.open == 0, HubCase.updated_ms < to_ms(before),
                                      HubCase.case_id.not_in(archived))
        .order_by(HubCase.updated_ms)))


def archive_case(session: Session, data_dir: Path, key: SiteKey, keys: DataKeys,
                 sealer: sync_store.PayloadSealer, case_id: uuid.UUID, now: datetime) -> Path:
    """Write the case's signed, sealed archive and mark the case read-only (in the caller's
    transaction; the file is in place before the mark, so a mark never lacks its file)."""
    rows = sync_store.case_rows(session, case_id)
    events = [_event(row, sealer) for row in rows]
    record = {"format": FORMAT, "case_id": str(case_id), "site": key.site,
              "archived_at": now.isoformat(), "events": events, "scans": _scans(events)}
    body = _canonical(record)
    signature = key.sign(DOMAIN + body)
    signed = _canonical({"record": record, "key_id": signature.key_id.hex(),
                         "public_key": key.public_raw.hex(),
                         "signature": signature.value.hex()})
    sealed = SealedRecords(keys).seal(signed, _context(case_id))
    path = archive_path(data_dir, case_id)
    _write_atomically(path, sealed)
    session.add(HubArchivedCase(case_id=case_id, archived_ms=to_ms(now),
                                file_sha256=hashlib.sha256(sealed).hexdigest()))
    return path


HubKeyLookup = Callable[[bytes], Ed25519PublicKey | None]
"""The hub's public key of a key id (the current key or one it rotated from); None for a
key id that is not the hub's."""


def hub_keys_of(ring: KeyRing) -> HubKeyLookup:
    """The lookup over the hub's keys a :class:`~sync_protocol.KeyRing` believes."""
    return lambda key_id: ring.key(key_id).public if ring.is_hub_key(key_id) else None


def verify_archive(path: Path, keys: DataKeys, hub_key_of: HubKeyLookup) -> Verified:
    """Open and check one archive, signed by the hub's key then in use (found by its id,
    so an archive signed before ``sanji hub rotate-key`` still verifies);
    :class:`ArchiveInvalid` saying why when it fails."""
    case_id = path.name.removesuffix(".archive")
    try:
        signed = json.loads(SealedRecords(keys).open(path.read_bytes(), _context(case_id)))
    except (SealError, ValueError) as exc:
        raise ArchiveInvalid("archive", f"{path.name} does not open: {exc}") from None
    record = signed.get("record") if isinstance(signed, dict) else None
    if not isinstance(record, dict) or record.get("case_id") != case_id:
        raise ArchiveInvalid("archive", f"{path.name} is not the archive of {case_id}")
    try:
        public = hub_key_of(bytes.fromhex(str(signed.get("key_id", ""))))
    except ValueError:
        public = None
    if public is None:
        raise ArchiveInvalid("archive", f"{path.name} is not signed by a key of this hub")
    try:
        public.verify(bytes.fromhex(str(signed.get("signature", ""))),
                      DOMAIN + _canonical(record))
    except (InvalidSignature, ValueError):
        raise ArchiveInvalid("archive", f"the signature of {path.name} does not verify "
                             "(the archive was changed)") from None
    return Verified(case_id, len(record.get("events", [])), len(record.get("scans", [])),
                    str(record.get("archived_at")))


def _event(row: sync_store.SyncEvent, sealer: sync_store.PayloadSealer) -> dict[str, Any]:
    return {"origin": row.origin, "epoch": row.epoch, "seq": row.seq, "type": row.type,
            "actor": row.actor, "at_ms": row.at_ms,
            "payload": sync_store.open_payload(row, sealer),
            "prev_hash": bytes(row.prev_hash).hex(), "hash": bytes(row.hash).hex()}


def _scans(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every scan the events name, once, with its SHA-256."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        payload = event["payload"]
        listed = payload.get("materials")
        for material in [*(listed if isinstance(listed, list) else []), payload]:
            if isinstance(material, dict) and isinstance(material.get("sha256"), str):
                found.setdefault(material["sha256"], {
                    "code": material.get("code"), "sha256": material["sha256"],
                    "size": material.get("size")})
    return sorted(found.values(), key=lambda s: (str(s["code"]), s["sha256"]))


def _canonical(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def _context(case_id: uuid.UUID | str) -> str:
    return f"case-archive:{case_id}"


def _write_atomically(path: Path, data: bytes) -> None:
    """An archive file, in the 0700 archive directory, replaced in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    replace_private(path, data)


def archive_closed(factory: Any, data_dir: Path, key: SiteKey, keys: DataKeys,
                   sealer: sync_store.PayloadSealer, before: datetime, now: datetime) -> int:
    """Archive every closed case last changed before ``before``, one transaction each (a
    failure leaves the cases before it archived); the number archived."""
    with factory() as session:
        due = closed_before(session, before)
    for case_id in due:
        with factory() as session:
            if session.get(HubArchivedCase, case_id) is None:  # another process was first
                archive_case(session, data_dir, key, keys, sealer, case_id, now)
                session.commit()
    return len(due)
