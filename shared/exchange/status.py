"""What the last exchanges did, kept in ``sync_state``: the child's status (the contract's
``GET /api/v1/sync/status``) and, at a parent, what each child last said of itself."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import cbor2
from sqlalchemy.orm import Session

from shared.exchange.site import SyncSite
from shared.exchange.tree import child_toward, children_of, site_parents
from shared.storage import sync_store as store
from shared.storage.link_state import (
    load_parent_link,
)
from sync_protocol import (
    LinkPosition,
)
from sync_protocol.times import from_ms

STATUS_KEY = "status"
RATE_KEY = "link_bytes_per_second"
RATE_SAMPLE_BYTES = 16 << 10
"""An exchange moving less than this says more about round trips than about the line."""


def record_status(session: Session, now: datetime, *, ok: bool, error: str | None,
                   reachable: bool, bytes_up: int = 0, bytes_down: int = 0,
                   seconds: float = 0.0, rejected: int = 0, blob_bytes: int = 0) -> None:
    status: dict[str, Any] = read_status(session)
    status["last_attempt"] = now.isoformat()
    status["parent_reachable"] = reachable
    status["bytes_up"] = int(status.get("bytes_up", 0)) + bytes_up
    status["blob_bytes_up"] = int(status.get("blob_bytes_up", 0)) + blob_bytes
    status["bytes_down"] = int(status.get("bytes_down", 0)) + bytes_down
    status["rejected_down"] = int(status.get("rejected_down", 0)) + rejected
    if ok:
        status["last_success"] = now.isoformat()
        status["last_error"] = None
        status["last_seconds"] = round(seconds, 3)
        moved = bytes_up + bytes_down
        if moved >= RATE_SAMPLE_BYTES and seconds > 0:
            sample = moved / seconds
            held = status.get(RATE_KEY)
            status[RATE_KEY] = round(sample if not held else (float(held) + sample) / 2, 1)
    else:
        status["last_error"] = error
    store.write_state(session, STATUS_KEY, json.dumps(status).encode())


def link_rate(session: Session) -> float | None:
    """Bytes per second the link to the parent carried lately (the mean of the last
    exchanges that moved at least ``RATE_SAMPLE_BYTES``, round trips and the parent's work
    included, so it errs low); None before the first such exchange."""
    held = read_status(session).get(RATE_KEY)
    return float(held) if held else None


def read_status(session: Session) -> dict[str, Any]:
    data = store.read_state(session, STATUS_KEY)
    if not data:
        return {"parent_reachable": None, "last_success": None, "last_error": None,
                "last_attempt": None, "bytes_up": 0, "bytes_down": 0}
    loaded = json.loads(data)
    assert isinstance(loaded, dict)
    return loaded


def sync_status(session: Session, site: SyncSite) -> dict[str, object]:
    """The contract's ``GET /api/v1/sync/status`` body, plus byte counters."""
    status = read_status(session)
    link = load_parent_link(session, site=site.code, parent=site.parent or "", epoch=site.epoch)
    pending_down = sum(store.count_down_after(session, child, child_ack(session, child))
                       for child in children_of(session, site.code))
    return {
        "parent_reachable": status.get("parent_reachable"),
        "pending_up": store.count_pending_up(session),
        "pending_down": pending_down,
        "last_success": status.get("last_success"),
        "last_error": status.get("last_error"),
        "last_attempt": status.get("last_attempt"),
        "bytes_up": status.get("bytes_up", 0),
        "bytes_down": status.get("bytes_down", 0),
        "rejected_down": status.get("rejected_down", 0),
        "down_ack": [link.down_ack.epoch, link.down_ack.seq],
        "blobs_pending_up": store.count_blob_records(session, store.BLOB_OWED),
        "blob_bytes_up": status.get("blob_bytes_up", 0),
    }


def child_info_key(child: str) -> str:
    return f"child_info:{child}"


def child_info(session: Session, child: str) -> dict[str, Any] | None:
    """What the last request of ``child`` said: ``last_contact_ms``, its ``epoch``, the
    ``wire_version`` and the releases it holds (``releases_known``: kind -> version)."""
    data = store.read_state(session, child_info_key(child))
    if not data:
        return None
    loaded: dict[str, Any] = json.loads(data)
    return loaded


def child_ack(session: Session, child: str) -> LinkPosition:
    """The last down position ``child`` acknowledged."""
    data = store.read_state(session, f"child_ack:{child}")
    if not data:
        return LinkPosition()
    epoch, seq = cbor2.loads(data)
    return LinkPosition(int(epoch), int(seq))


def copy_as_of(session: Session, site: SyncSite, owner: str, now: datetime) -> datetime | None:
    """When this site's copy of a case decided at ``owner`` was last brought up to date: now
    where it is decided here (this is the live copy); for one decided below, the last
    exchange with the child on the way to ``owner``; otherwise the last successful
    exchange with the parent. None when no such exchange has happened yet."""
    if owner == site.code:
        return now
    child = child_toward(site_parents(session), site.code, owner)
    if child is not None:
        info = child_info(session, child) or {}
        contact = info.get("last_contact_ms")
        return from_ms(int(contact)) if isinstance(contact, int) else None
    success = read_status(session).get("last_success")
    return datetime.fromisoformat(success) if isinstance(success, str) else None
