"""Consultations and complaints at the hub (咨询投诉): the staff API and page, and the public
online form.

- ``POST /api/v1/consultations``: a window, a supervisor on the 9618 line or the front desk
  records one (channel ``phone`` or ``window``); ``GET`` lists what the user may see;
  ``GET /api/v1/consultations/<id>`` shows one; ``POST .../<id>/answer`` answers it (the
  assigned department's operators and head only; anyone else gets 404).
- ``POST /api/v1/public/consultations`` and the page ``/consult``: the public online form
  (channel ``online``), no login, limited per client address like the status lookup.
- ``/consultations``: the staff page: record, list, answer.

The work is :mod:`hub.consultation_ledger`'s; this module reads the requests.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from marshmallow import EXCLUDE, ValidationError, fields, validate

from hub import consultation_ledger as ledger
from hub.consultation_models import HubConsultation
from hub.db_session import get_session
from hub.front_desk import answer_given, idempotency_key, remember_answer
from hub.services import services
from shared.domain.application import request_digest
from shared.domain.consultations import CHANNELS, KINDS, TEXT_MAX
from shared.domain.errors import DomainError, NotFound
from shared.domain.working_days import SHANGHAI
from shared.web.consultation_forms import AnswerSchema, RecordSchema, blank_to_none
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages, pick
from shared.web.rate_limit import FailureLimiter, failure_counts_of
from shared.web.sign_in import require_user

bp = Blueprint("consultations", __name__, template_folder="templates")

RECORDERS = ("agent", "window_operator", "department_head", "supervisor")
"""Who records one at the hub: the front desk, a window, a department head, a supervisor
taking a 9618 call."""
ONLINE_LIMIT = 5
ONLINE_WINDOW_SECONDS = 3600.0
"""Online submissions per client address per hour before the form answers 429."""
ONLINE_ACTOR = "system:online"
_SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,43}")


class OnlineSchema(RecordSchema):
    """The public form: the channel is ``online`` whatever is sent."""

    channel = fields.String(load_default="online", validate=validate.Equal("online"))


class _OnlineFormSchema(OnlineSchema):
    class Meta:
        unknown = EXCLUDE  # the form token and the button


def _limiter() -> FailureLimiter:
    found = current_app.extensions.get("consultation_limiter")
    if found is None:
        found = FailureLimiter(ONLINE_LIMIT, ONLINE_WINDOW_SECONDS,
                               counts=failure_counts_of(current_app), kind="consultation")
        current_app.extensions["consultation_limiter"] = found
    limiter: FailureLimiter = found
    return limiter


def _record(body: dict[str, Any], actor: str, key: str | None = None) -> dict[str, Any]:
    """Record and commit; the API's answer. A ``key`` sent again with the same body (a
    double click, a retried request) answers the first recording and records nothing."""
    hub = services()
    session = get_session()
    record_key = f"idem:consultation:{actor}:{key}" if key else None
    digest = request_digest(body)
    try:
        if record_key is not None:
            first = answer_given(session, record_key, digest)
            if first is not None:
                return dict(first)
        result = ledger.record(session, hub.sync_site, hub.catalogue, hub.calendar,
                               blank_to_none(body), actor, hub.clock()).as_dict()
        if record_key is not None:
            remember_answer(session, record_key, digest, result)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def _header_key() -> str | None:
    """The optional ``Idempotency-Key`` of an API request."""
    return idempotency_key() if request.headers.get("Idempotency-Key") else None


def _parse_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("consultation", "no such consultation") from None


@bp.post("/api/v1/consultations")
@require_user(*RECORDERS)
def record_api() -> tuple[Response, int]:
    body = RecordSchema().load(request.get_json(silent=True) or {})
    claims = g.claims
    return jsonify(_record(body, f"{claims.role}:{claims.username}", _header_key())), 201


@bp.get("/api/v1/consultations")
@require_user("window_operator", "department_head", "supervisor", "admin")
def list_api() -> Response:
    status = request.args.get("status")
    if status not in (None, "open", "answered"):
        return error_response(400, "invalid", "bad status", {"status": "open or answered"})
    rows = ledger.listing(get_session(), g.claims, services().catalogue, status=status)
    return jsonify({"consultations": [ledger.summary(r) for r in rows]})


def _visible(consultation_id: str) -> HubConsultation:
    row = get_session().get(HubConsultation, _parse_id(consultation_id))
    claims = g.claims
    if row is None or (claims.role not in ("supervisor", "admin") and not ledger.may_answer(
            claims, services().catalogue, row.department)):
        raise NotFound("consultation", "no such consultation for your department")
    return row


@bp.get("/api/v1/consultations/<consultation_id>")
@require_user("window_operator", "department_head", "supervisor", "admin")
def show_api(consultation_id: str) -> Response:
    row = _visible(consultation_id)
    return jsonify(ledger.details(get_session(), services().sync_site, row))


def _answer(consultation_id: str, text: str) -> HubConsultation:
    hub = services()
    session = get_session()
    try:
        row = ledger.answer(session, hub.sync_site, hub.catalogue,
                            _parse_id(consultation_id), text, g.claims, hub.clock())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return row


@bp.post("/api/v1/consultations/<consultation_id>/answer")
@require_user("window_operator", "department_head")
def answer_api(consultation_id: str) -> Response:
    body = AnswerSchema().load(request.get_json(silent=True) or {})
    row = _answer(consultation_id, body["answer"])
    return jsonify(ledger.summary(row))


def _online_blocked() -> Response | None:
    client, now = request.remote_addr or "unknown", services().clock().timestamp()
    limiter = _limiter()
    if limiter.blocked(client, now):
        response = error_response(429, "too_many_requests", "too many submissions; wait")
        response.headers["Retry-After"] = str(limiter.retry_after(client, now))
        return response
    limiter.record_failure(client, now)  # every submission counts against the address
    return None


@bp.post("/api/v1/public/consultations")
def online_api() -> tuple[Response, int] | Response:
    body = OnlineSchema().load(request.get_json(silent=True) or {})
    blocked = _online_blocked()
    if blocked is not None:
        return blocked
    recorded = _record(body, ONLINE_ACTOR, _header_key())
    return jsonify({k: recorded[k] for k in ("id", "department", "due")}), 201


def _departments() -> list[tuple[str, str]]:
    return [(d.code, pick(d.name.zh, d.name.en)) for d in services().catalogue.departments]


@bp.route("/consult", methods=["GET", "POST"])
def online_page() -> tuple[str, int, dict[str, str]]:
    form = request.form if request.method == "POST" else request.args
    values = {k: form.get(k, "")[:TEXT_MAX] for k in
              ("kind", "name", "phone", "text", "acceptance_no", "item_code", "department")}
    # the form's own key: sent twice (a double click, a reload), it records once
    submission = form.get("submission", "")
    if not _SUBMISSION.fullmatch(submission):
        submission = secrets.token_urlsafe(16)
    context: dict[str, Any] = {"v": values, "kinds": KINDS, "departments": _departments(),
                               "problems": {}, "done": None, "message": "",
                               "submission": submission}
    status = 200
    if request.method == "POST":
        try:
            body = _OnlineFormSchema().load(blank_to_none(values))
            blocked = _online_blocked()
            if blocked is not None:
                status, context["message"] = 429, "cons.too_many"
            else:
                done = _record(body, ONLINE_ACTOR, submission)
                context["done"] = {"id": done["id"], "due": _due_day(done["due"])}
        except ValidationError as exc:
            status, context["problems"] = 400, flatten_messages(exc.messages)
        except DomainError as exc:
            status, context["problems"] = exc.http_status, exc.fields
    return (render_template("consultations/online.html", **context), status,
            {"Cache-Control": "no-store"})


@bp.route("/consultations", methods=["GET", "POST"])
@require_user("window_operator", "department_head", "supervisor", "admin")
def staff_page() -> tuple[str, int]:
    claims = g.claims
    status, problems, message = 200, {}, ""
    if request.method == "POST":
        try:
            if request.form.get("answer_id"):
                _answer(request.form["answer_id"], request.form.get("answer", ""))
                message = "cons.answered"
            elif claims.role in RECORDERS:
                body = RecordSchema().load(blank_to_none(
                    {k: v for k, v in request.form.items() if k in RecordSchema().fields}))
                _record(body, f"{claims.role}:{claims.username}")
                message = "cons.recorded"
        except ValidationError as exc:
            status, problems = 400, flatten_messages(exc.messages)
        except DomainError as exc:
            status, problems = exc.http_status, exc.fields
    hub = services()
    rows = ledger.listing(get_session(), claims, hub.catalogue, status=None)
    now_ms = int(hub.clock().timestamp() * 1000)
    return render_template(
        "consultations/staff.html", rows=[_local(ledger.summary(r)) for r in rows],
        late={str(r.id) for r in rows if r.answered_ms is None and r.due_ms < now_ms},
        answerable={str(r.id) for r in rows if r.answered_ms is None
                    and ledger.may_answer(claims, hub.catalogue, r.department)},
        can_record=claims.role in RECORDERS, channels=CHANNELS, kinds=KINDS,
        departments=_departments(), problems=problems, message=message), status


def _local(row: dict[str, Any]) -> dict[str, Any]:
    """A list row's times as the hall reads them: Shanghai time, the due day."""
    def shown(iso: str | None) -> str:
        if iso is None:
            return ""
        return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")

    return {**row, "recorded_at": shown(row["recorded_at"]),
            "answered_at": shown(row["answered_at"]) or None, "due": _due_day(row["due"])}


def _due_day(iso: str) -> str:
    """The last day to answer, from the deadline (the end of that day in Shanghai)."""
    due = datetime.fromisoformat(iso).astimezone(SHANGHAI) - timedelta(seconds=1)
    return due.date().isoformat()


@bp.record_once
def _texts(state: Any) -> None:
    add_messages(state.app, MESSAGES)


MESSAGES: Messages = {
    "cons.title": ("咨询投诉", "Consultations and complaints"),
    "cons.online_title": ("网上咨询投诉", "Ask or complain online"),
    "cons.intro": ("咨询在5个工作日内答复,投诉在15个工作日内答复;也可拨打9618。",
                   "A question is answered within 5 working days, a complaint within 15; "
                   "or call 9618."),
    "cons.kind": ("类别", "Kind"), "cons.consultation": ("咨询", "Question"),
    "cons.complaint": ("投诉", "Complaint"), "cons.channel": ("渠道", "Channel"),
    "cons.phone_line": ("9618热线", "9618 line"), "cons.window": ("窗口", "Window"),
    "cons.online": ("网上", "Online"),
    "cons.name": ("姓名", "Name"), "cons.phone": ("手机号码", "Mobile phone"),
    "cons.text": ("内容", "What it is about"),
    "cons.acceptance_no": ("受理编号(如涉及办件)", "Acceptance number (if about a case)"),
    "cons.item_code": ("事项编码(如涉及事项)", "Item code (if about an item)"),
    "cons.department": ("答复部门", "Department"),
    "cons.submit": ("提交", "Submit"),
    "cons.thanks": ("已收到,编号 ", "Received, number "),
    "cons.due": ("答复期限", "Answer due"),
    "cons.too_many": ("提交次数过多,请稍后再试", "Too many submissions; please wait"),
    "cons.recorded": ("已登记", "Recorded"), "cons.answered": ("已答复", "Answered"),
    "cons.answer": ("答复", "Answer"), "cons.record": ("登记咨询投诉", "Record one"),
    "cons.list": ("咨询投诉列表", "Consultations and complaints"),
    "cons.status": ("状态", "Status"), "cons.open": ("待答复", "Open"),
    "cons.recorded_at": ("登记时间", "Recorded"), "cons.case": ("办件", "Case"),
    "cons.overdue": ("已超期", "Overdue"),
}
