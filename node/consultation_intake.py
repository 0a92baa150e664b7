"""Consultations and complaints recorded at a node (咨询投诉): the village agent, or a
township's staff, takes a question or complaint in person or on the phone, offline if need be.

It is one signed event that travels up the exchange like any other: on the case's log when it
concerns a case this site holds (so it travels with the case and shows in its history at every
site above), else as the first event of a log of its own whose id derives from that event
(:func:`shared.storage.case_ids.reserve_case_id`). The hub keeps the ledger, the deadline and
the answer (:mod:`hub.consultation_ledger`); the due date answered here is the one the hub
will set, by this site's copy of the calendar.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from node.auth import current_actor
from node.case_log import NewEvent, append_local_event, corrected_now
from node.db_session import get_session
from node.intake import find_by_acceptance_no
from node.services import services
from shared.domain.case_events import EventType
from shared.domain.catalogue import Catalogue
from shared.domain.consultations import answer_due, assigned, check_recorded
from shared.domain.errors import InvalidInput, Problems
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.storage import sync_store
from shared.storage.case_ids import reserve_case_id
from shared.web.consultation_forms import RecordSchema, blank_to_none
from sync_protocol import case_id_for
from sync_protocol.times import to_ms

RECORDED = EventType.CONSULTATION_RECORDED.value
bp = Blueprint("consultations", __name__, url_prefix="/api/v1")


@dataclass(frozen=True, slots=True)
class NodeRecorded:
    id: uuid.UUID
    case_id: uuid.UUID | None
    department: str
    due: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "case_id": str(self.case_id) if self.case_id else None,
                "department": self.department, "due": self.due.isoformat()}


def record_here(session: Session, site: SyncSite, catalogue: Catalogue,
                calendar: WorkingDayCalendar, body: dict[str, Any], actor: str,
                now: datetime) -> NodeRecorded:
    """Author the recording event (not committed); every bad field named at once."""
    problems: dict[str, str] = {}
    case = None
    if body.get("acceptance_no"):
        case = find_by_acceptance_no(session, str(body["acceptance_no"]).strip())
        if case is None:
            problems["acceptance_no"] = "no case with this acceptance number at this site"
    fields = dict(body)
    try:
        fields["item_code"], fields["department"] = assigned(
            catalogue, case.item_code if case is not None else body.get("item_code"),
            body.get("department"))
    except InvalidInput as exc:
        problems.update(exc.fields)
        fields["department"] = body.get("department") or "?"
    payload: dict[str, Any] = {}
    try:
        payload = check_recorded(fields, prefix="")
    except InvalidInput as exc:
        problems = {**exc.fields, **problems}
    if problems:
        raise Problems(problems, "the consultation is not complete or not valid")
    if case is not None:
        payload["acceptance_no"] = case.acceptance_no
        row = append_local_event(session, case, NewEvent(RECORDED, actor, payload),
                                 site=site, now=now)
    else:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch,
            case_id=reserve_case_id(session, site.code, site.epoch), actor=actor,
            type=RECORDED, payload=payload, at_ms=to_ms(corrected_now(session, site, now)),
            up=not site.is_root, now_ms=to_ms(now))
    return NodeRecorded(case_id_for(row.origin, row.epoch, row.seq),
                        case.case_id if case is not None else None, payload["department"],
                        answer_due(calendar, payload["kind"], now))


@bp.post("/consultations")
def record_api() -> tuple[Response, int]:
    """``POST /api/v1/consultations``: 201 with the id, the department and the due time."""
    body = RecordSchema().load(request.get_json(silent=True) or {})
    node = services()
    session = get_session()
    try:
        recorded = record_here(session, node.sync_site, node.catalogue,
                               node.held_calendar.current(), blank_to_none(body),
                               current_actor(), node.clock())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    node.nudge_sync()
    return jsonify(recorded.as_dict()), 201
