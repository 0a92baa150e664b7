"""An applicant's access request (PIPL art. 45): every record the hub holds for one ID
number, found through the blind index (:mod:`hub.privacy.id_indexing`) — only the cases
indexed under the number are opened, never every case to compare.

Each answer is logged in ``hub_access_requests``: who asked, when, by which channel, the blind
index asked for and how many cases it found. The ID number itself is written nowhere.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.orm import Session

from hub.models import HubCase
from hub.privacy.id_indexing import cases_of
from hub.privacy.tables import HubAccessRequest
from hub.sites import paths_up
from shared.deciding import case_work
from shared.domain.case_state import fold
from shared.domain.retention import RetentionPolicy
from shared.storage.id_index import blind_index, blind_indexes
from shared.storage.sealing import DataKeys
from shared.storage.sync_store import PayloadSealer
from sync_protocol.times import from_ms, to_ms

VIEWS_TABLE = "record_views"
"""The audit of who opened a case's record, when that table exists at this hub."""


def answer_access_request(session: Session, site_code: str, sealer: PayloadSealer,
                          keys: DataKeys,
                          policy: RetentionPolicy, id_number: str, *, asked_by: str,
                          channel: str, now: datetime) -> dict[str, Any]:
    """The report for ``id_number``, and the request logged (in the caller's transaction)."""
    case_ids = cases_of(session, blind_indexes(keys, id_number))
    cases = [_case_record(session, sealer, policy, case_id) for case_id in sorted(case_ids)]
    index = blind_index(keys, id_number)
    session.add(HubAccessRequest(asked_ms=to_ms(now), asked_by=asked_by, channel=channel,
                                 blind_index=index, cases_found=len(cases)))
    return {
        "answered_at": now.isoformat(),
        "answered_by_site": site_code,
        "cases": cases,
        "record_views": ("recorded" if _has_views(session) else
                         "not recorded at this hub: it keeps no audit of views"),
    }


def _case_record(session: Session, sealer: PayloadSealer, policy: RetentionPolicy,
                 case_id: uuid.UUID) -> dict[str, Any]:
    events = case_work.sealed_case_events(session, sealer, case_id)
    state = fold(events) if events else None
    registration = events[0].payload if events else {}
    row = session.get(HubCase, case_id)
    closed_at = (from_ms(row.updated_ms) if row is not None and row.open == 0 else None)
    outcome = state.outcome.value if state is not None and state.outcome else None
    item_code = str(registration.get("item_code", ""))
    kept_until = policy.case_kept_until(item_code, outcome, closed_at)
    scans_until = policy.scans_kept_until(item_code, outcome, closed_at)
    origin = row.origin if row is not None else (events[0].origin if events else "")
    path = paths_up(session, [origin]).get(origin, [(origin, "")]) if origin else []
    record: dict[str, Any] = {
        "case_id": str(case_id),
        "acceptance_no": registration.get("acceptance_no"),
        "item_code": item_code,
        "kind": row.kind if row is not None else registration.get("kind"),
        "status": row.state if row is not None else None,
        "outcome": outcome,
        "registered_at": events[0].at.isoformat() if events else None,
        "closed_at": closed_at.isoformat() if closed_at else None,
        "applicant": registration.get("applicant"),
        "form": registration.get("form"),
        "materials": [_material(m) for m in registration.get("materials", [])
                      if isinstance(m, dict)],
        "held_at_sites": [code for code, _ in path],
        "kept_until": kept_until.isoformat() if kept_until else None,
        "scans_kept_until": scans_until.isoformat() if scans_until else None,
        "events": [{"type": e.type.value, "at": e.at.isoformat(), "site": e.origin}
                   for e in events],
    }
    if _has_views(session):
        record["views"] = _views(session, case_id)
    return record


def _material(material: dict[str, Any]) -> dict[str, Any]:
    found = {key: material.get(key) for key in ("code", "sha256", "size", "media_type")}
    if isinstance(material.get("reused"), dict):  # taken from the certificate store
        found["reused"] = True
    return found


def _has_views(session: Session) -> bool:
    """Whether the audit of views exists here, with a ``case_id`` to read it by."""
    found = inspect(session.connection())
    return found.has_table(VIEWS_TABLE) and any(
        c["name"] == "case_id" for c in found.get_columns(VIEWS_TABLE))


def _views(session: Session, case_id: uuid.UUID) -> list[dict[str, Any]]:
    """Who viewed the case, as the audit table holds it (its columns as they are)."""
    rows = session.execute(text(f"SELECT * FROM {VIEWS_TABLE} WHERE case_id = :case_id"),
                           {"case_id": str(case_id)}).mappings()
    return [{k: (v if isinstance(v, str | int | None) else str(v)) for k, v in r.items()}
            for r in rows]


def purge_access_log(session: Session, policy: RetentionPolicy, now: datetime) -> int:
    """Delete the access requests older than the policy's ``audit_log_days``; how many."""
    cutoff = to_ms(now - timedelta(days=policy.audit_log_days))
    result = session.execute(delete(HubAccessRequest).where(HubAccessRequest.asked_ms < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def access_log(session: Session, limit: int = 100) -> list[HubAccessRequest]:
    """The newest access requests answered."""
    return list(session.scalars(select(HubAccessRequest)
                                .order_by(HubAccessRequest.id.desc()).limit(limit)))
