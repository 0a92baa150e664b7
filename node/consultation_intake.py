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

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from node.auth import current_actor
from node.case_log import NewEvent, append_local_event, corrected_now
from node.db_session import get_session
from node.intake import find_by_acceptance_no
from node.services import services
from shared.domain.case_events import EventType
from shared.domain.catalogue import Catalogue
from shared.domain.consultations import Recorded, answer_due, recorded_payload
from shared.domain.errors import DomainError
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.storage import sync_store
from shared.storage.case_ids import reserve_case_id
from shared.web.consultation_forms import RecordSchema, blank_to_none
from shared.web.error_responses import flatten_messages
from shared.web.i18n import Messages, add_messages, pick
from sync_protocol import case_id_for
from sync_protocol.times import to_ms

RECORDED = EventType.CONSULTATION_RECORDED.value
bp = Blueprint("consultations", __name__)


def record_here(session: Session, site: SyncSite, catalogue: Catalogue,
                calendar: WorkingDayCalendar, body: dict[str, Any], actor: str,
                now: datetime) -> Recorded:
    """Author the recording event (not committed); every bad field named at once."""
    problems: dict[str, str] = {}
    case = None
    if body.get("acceptance_no"):
        case = find_by_acceptance_no(session, str(body["acceptance_no"]).strip())
        if case is None:
            problems["acceptance_no"] = "no case with this acceptance number at this site"
    payload = recorded_payload(catalogue, body, case.item_code if case is not None else None,
                               problems)
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
    return Recorded(case_id_for(row.origin, row.epoch, row.seq),
                        case.case_id if case is not None else None, payload["department"],
                        answer_due(calendar, payload["kind"], now))


def _record(body: dict[str, Any]) -> Recorded:
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
    return recorded


@bp.post("/api/v1/consultations")
def record_api() -> tuple[Response, int]:
    """``POST /api/v1/consultations``: 201 with the id, the department and the due time."""
    body = RecordSchema().load(request.get_json(silent=True) or {})
    return jsonify(_record(body).as_dict()), 201


_FORM_FIELDS = ("channel", "kind", "name", "phone", "text", "acceptance_no", "item_code",
                "department")


@bp.route("/consultations/new", methods=["GET", "POST"])
def record_page() -> tuple[str, int]:
    """The station's form: a question or complaint taken in person or on the phone."""
    form = request.form if request.method == "POST" else request.args
    values = {k: form.get(k, "")[:2000] for k in _FORM_FIELDS}
    done: Recorded | None = None
    problems: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            done = _record(RecordSchema().load(blank_to_none(values)))
        except ValidationError as exc:
            status, problems = 400, flatten_messages(exc.messages)
        except DomainError as exc:
            status, problems = exc.http_status, exc.fields
    departments = [(d.code, pick(d.name.zh, d.name.en))
                   for d in services().catalogue.departments]
    return render_template("consultation_new.html", v=values, done=done, problems=problems,
                           departments=departments, channels=("window", "phone"),
                           kinds=("consultation", "complaint")), status


@bp.record_once
def _texts(state: Any) -> None:
    add_messages(state.app, MESSAGES)


MESSAGES: Messages = {
    "ncons.title": ("登记咨询投诉", "Record a question or complaint"),
    "ncons.nav": ("咨询投诉", "Questions & complaints"),
    "ncons.intro": ("咨询5个工作日内、投诉15个工作日内由主管部门答复;联网后自动上报。",
                    "The department answers a question within 5 working days and a complaint "
                    "within 15; it goes up with the next exchange."),
    "ncons.channel": ("渠道", "Channel"), "ncons.window": ("来访", "In person"),
    "ncons.phone": ("来电", "Phone call"), "ncons.kind": ("类别", "Kind"),
    "ncons.consultation": ("咨询", "Question"), "ncons.complaint": ("投诉", "Complaint"),
    "ncons.name": ("姓名", "Name"), "ncons.mobile": ("手机号码", "Mobile phone"),
    "ncons.text": ("内容", "What it is about"),
    "ncons.acceptance_no": ("受理编号(如涉及本站办件)",
                            "Acceptance number (a case of this station)"),
    "ncons.item_code": ("事项编码(如涉及事项)", "Item code (if about an item)"),
    "ncons.department": ("答复部门", "Department"), "ncons.submit": ("登记", "Record"),
    "ncons.done": ("已登记,编号 ", "Recorded, number "), "ncons.due": ("答复期限", "Answer due"),
}
