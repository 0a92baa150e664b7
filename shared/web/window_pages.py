"""The window operators' pages (窗口工作台) of every deciding site: the hub's city windows and
the township and county nodes' windows. A window's queue, and a case's page with one small
form per action the signed-in operator may take now.

One implementation for all of them: :func:`window_views_blueprint` is given the app's request
session and its :class:`WindowContext`, the same pair its JSON window API gets, so a page and
an API call can never disagree about a case.

Plain server-rendered HTML with a few hundred bytes of inline CSS and no script, so each page
stays far below 60 KB and opens over a 64 kbit/s link. Nothing about *who may do what* is
decided here: the buttons are :func:`shared.domain.window_workflow.allowed_actions`, and a
submitted form takes the same path as ``POST /api/v1/cases/<id>/actions``
(:class:`ActionSchema`, :func:`actor_of`, :func:`shared.deciding.case_work.act`, the store's
refresh) in one transaction that is rolled back whole when the workflow refuses. The login
lives in a cookie, so every form carries the session's CSRF token
(:mod:`shared.web.security_policy`). A supervisor's queue page
also carries the form that moves an absent operator's cases to a colleague
(:mod:`shared.deciding.bulk_reassign`, the same as its API). The texts are
:mod:`shared.web.window_texts`' in the page's language (:mod:`shared.web.i18n`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from shared.deciding import bulk_reassign, case_work
from shared.deciding.case_signals import card_statuses
from shared.deciding.window_context import WindowContext
from shared.domain.case_events import (
    CALLBACK_OUTCOMES,
    MAX_EXTENSION_DAYS,
    SPECIAL_PROCEDURES,
    CaseEvent,
    EventType,
)
from shared.domain.case_state import CaseState, fold, refused_keys
from shared.domain.catalogue import Catalogue, ServiceItem, SiteTier, Window
from shared.domain.delivery import latest_courier_address
from shared.domain.errors import DomainError, NotFound, Problems, StateConflict
from shared.domain.identity import mask_phone
from shared.domain.window_workflow import ActionRequest, ItemRules, allowed_actions
from shared.domain.working_days import SHANGHAI, due_day
from shared.pdf.fonts import find_fonts
from shared.pdf.letter import LAYOUTS
from shared.pdf.result_document import render_result, result_document
from shared.storage.accounts import Claims, UserAccount
from shared.web.document_check import public_base_url
from shared.web.error_responses import flatten_messages
from shared.web.i18n import add_messages, locale_name, t
from shared.web.pages import (
    id_on_page,
    no_store,
    refusal_page,
    refusal_title,
    signed_in,
)
from shared.web.record_audit import audit_view, engine_of_session
from shared.web.record_scope import DEPARTMENT_HEAD, case_in_reach
from shared.web.scans_endpoint import case_scans
from shared.web.sign_in import require_user
from shared.web.window_api import (
    WINDOW_BOUND_ROLES,
    ActionSchema,
    BulkReassignSchema,
    actor_of,
    case_body,
    check_window,
)
from shared.web.window_texts import MESSAGES, name_of
from sync_protocol.times import from_ms

ROLES = ("window_operator", "finance", "supervisor", "admin", "department_head")
"""Roles of the window desk: operators and finance see their window's queue and cases, a
department head their department's (and decides its extensions), supervisors and admins
every window's."""
PAGE_ROWS = 100
"""Queue rows shown, nearest deadline first: a full page stays under about 40 KB."""

@dataclass(frozen=True, slots=True)
class ActionForm:
    """How one action is offered on the case page: its label and the inputs it needs.

    ``inputs`` names the form parts the template knows: ``reason`` (optional), ``reason!``
    (required: 退回 and 转办 need a written reason), ``missing`` (checkbox list of the item's
    materials, 一次性告知), ``provided``, ``to_window``, ``authority``, ``outcome``,
    ``reference``, ``assignee``, ``procedure`` (特别程序), ``days`` (working days of an
    extension), ``approved`` (the head's answer), ``callback`` (how the call-back after a
    bad rating went) and ``comment`` (its note); ``reductions`` (the amount and reason of
    each fee the catalogue lets the window waive or reduce at acceptance), ``receipt_no``,
    ``amount_yuan`` (yuan typed,
    fen sent) and ``approver`` for the finance window's payment, void and refund.
    """

    zh: str
    en: str
    inputs: tuple[str, ...] = ()


ACTION_FORMS: Mapping[str, ActionForm] = {
    "claim": ActionForm("认领", "Claim"),
    "release_claim": ActionForm("释放认领", "Release claim"),
    "reassign": ActionForm("改派", "Reassign", ("assignee", "reason")),
    "accept": ActionForm("受理", "Accept", ("reductions",)),
    "request_supplement": ActionForm("一次性告知补正", "Request supplement",
                                     ("missing", "reason")),
    "supplement_provided": ActionForm("已补正", "Supplement provided", ("provided",)),
    "approve": ActionForm("审核通过", "Approve"),
    "check": ActionForm("核准", "Check"),
    "reject": ActionForm("退回", "Reject", ("reason!",)),
    "report_up": ActionForm("上报", "Report up", ("authority",)),
    "record_external_decision": ActionForm("登记上级决定", "Record decision",
                                           ("outcome", "reference", "reason")),
    "co_approve": ActionForm("会签同意", "Co-approve"),
    "object": ActionForm("会签异议", "Object", ("reason!",)),
    "transfer": ActionForm("转办", "Transfer", ("to_window", "reason!")),
    "issue_result": ActionForm("出具结果", "Issue result", ("reference",)),
    "withdraw": ActionForm("撤件", "Withdraw", ("reason",)),
    "urge": ActionForm("催办", "Urge", ("reason!",)),
    "start_special_procedure": ActionForm("启动特别程序", "Start a special procedure",
                                          ("procedure", "reason!")),
    "end_special_procedure": ActionForm("结束特别程序", "End the special procedure",
                                        ("procedure",)),
    "request_extension": ActionForm("申请延期", "Request an extension", ("days", "reason!")),
    "decide_extension": ActionForm("审批延期", "Decide the extension",
                                   ("approved", "days", "reason")),
    "answer_rectification": ActionForm("答复差评整改", "Answer the rectification",
                                       ("reason!",)),
    "record_callback": ActionForm("登记回访", "Record the call-back", ("callback", "comment")),
    "pay": ActionForm("收费", "Take the payment", ("receipt_no", "amount_yuan")),
    "void_receipt": ActionForm("作废收据", "Void a receipt", ("receipt_no", "reason!")),
    "refund": ActionForm("退费", "Refund", ("amount_yuan", "approver", "reason!")),
}
"""Actions a window page offers. The rest need inputs the action API does not take
(corrections, hand-over, ratings) or are the system's own."""

_TEXT_INPUTS = ("reason", "to_window", "authority", "outcome", "reference", "assignee",
                "procedure", "days", "approved", "callback", "comment", "receipt_no",
                "approver")
_LIST_INPUTS = ("missing", "provided")


@dataclass(frozen=True, slots=True)
class QueueRow:
    case_id: uuid.UUID
    acceptance_no: str
    item: str
    state: str
    claimed_by: str | None
    due: str | None
    left: int | None

    @property
    def late(self) -> bool:
        return self.left is not None and self.left < 0


@dataclass(frozen=True, slots=True)
class HistoryRow:
    at: str
    type: str
    name: str
    actor: str
    origin: str
    detail: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action was not done, as the page shows it."""

    status: int
    title: str
    message: str
    action: str
    reason: str


# -- access ---------------------------------------------------------------------------------


# -- formatting -----------------------------------------------------------------------------


def _fee_lines(events: Sequence[CaseEvent]) -> list[Mapping[str, Any]]:
    """The fee lines the acceptance assessed (以票控费), each with its basis."""
    assessed = next((e for e in events if e.type is EventType.FEES_ASSESSED), None)
    lines = assessed.payload.get("fees", []) if assessed is not None else []
    return [line for line in lines if isinstance(line, Mapping)]


def _yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen // 100:,}.{fen % 100:02d}"


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _due_day(due: datetime) -> str:
    """The calendar day a deadline falls on (it is stored as the end of that day, 24:00)."""
    return due_day(due).isoformat()


def _days_left(ctx: WindowContext, due: datetime, now: datetime) -> int | None:
    try:
        return ctx.calendar().remaining_working_days(due, now)
    except DomainError:  # a year the calendar holds no data for: show no count
        return None


def _item_name(catalogue: Catalogue, code: str, lang: str | None = None) -> str:
    """The item's name in ``lang`` (this page's language by default)."""
    try:
        return catalogue.item(code).name.get(lang or locale_name())
    except DomainError:
        return code


def _material_name(item: ServiceItem | None, code: str) -> str:
    material = item.material(code) if item is not None else None
    return material.name.get(locale_name()) if material is not None else code


def _size(size: object) -> str:
    if not isinstance(size, int):
        return "—"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _applicant_rows(applicant: Mapping[str, Any], reveal_id: bool,
                    prefix: str = "") -> list[tuple[str, str]]:
    """The applicant as label/value rows; ID numbers masked unless ``reveal_id``."""
    rows: list[tuple[str, str]] = []
    for key, value in applicant.items():
        label = prefix + name_of("applicant", key)
        if isinstance(value, Mapping):
            rows.extend(_applicant_rows(value, reveal_id, label + " · "))
        elif key == "id_number" and not reveal_id:
            rows.append((label, id_on_page(str(value))))
        elif key == "kind":
            rows.append((label, name_of("applicant", str(value))))
        else:
            rows.append((label, str(value)))
    return rows


def _form_rows(item: ServiceItem | None, form: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    lang = locale_name()
    for key, value in form.items():
        field = item.form.field(key) if item is not None else None
        label = field.label.get(lang) if field is not None else key
        text = t("win.yes") if value is True else t("win.no") if value is False else str(value)
        if field is not None:
            for choice in field.choices:
                if choice.value == value:
                    text = choice.label.get(lang)
        rows.append((label, text))
    return rows


def _detail(event: CaseEvent, item: ServiceItem | None) -> str:
    """The few payload facts worth a line in the history (never the registration's data)."""
    if event.type is EventType.REGISTERED:
        return ""
    payload = event.payload
    parts: list[str] = []
    if event.type is EventType.CONSULTATION_RECORDED:  # 咨询投诉: what, by which channel
        parts.append(f"{name_of('cons', str(payload.get('kind')))} "
                     f"({payload.get('channel')}): {payload.get('text', '')}")
    if event.type is EventType.CONSULTATION_ANSWERED:
        parts.append(str(payload.get("answer", "")))
    for key in ("window", "to_window", "department", "authority", "reference"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
    deadline = payload.get("deadline")
    if isinstance(deadline, str):
        parts.append(t("win.due_on") + " " + _due_day(datetime.fromisoformat(deadline)))
    missing = payload.get("missing")
    if isinstance(missing, list):
        names = [_material_name(item, str(code)) for code in missing]
        parts.append(t("win.lacks") + " " + _list_sep().join(names))
    outcome = payload.get("outcome")
    if isinstance(outcome, str):
        parts.append(name_of("outcome", outcome))
    reason = payload.get("reason")
    if isinstance(reason, str) and reason:
        parts.append(t("win.reason_is") + reason)
    return ("; " if locale_name() == "en" else ";").join(parts)


def _list_sep() -> str:
    return ", " if locale_name() == "en" else "、"


# -- pages ----------------------------------------------------------------------------------


def window_views_blueprint(get_session: Callable[[], Session],
                           get_ctx: Callable[[], WindowContext]) -> Blueprint:
    """The ``windows`` blueprint: ``/windows``, ``/windows/<code>``,
    ``/windows/cases/<id>`` and ``/windows/cases/<id>/act``.

    ``get_session`` gives the request's database session and ``get_ctx`` the site's
    :class:`WindowContext`, the pair the app's :func:`~shared.web.window_api.window_blueprint`
    is given. The app must also register :func:`shared.web.sign_in.auth_blueprint` (the login)
    and set ``site`` (with ``site_name``) as a Jinja global.
    """
    bp = Blueprint("windows", __name__, url_prefix="/windows", template_folder="templates")
    bp.register_error_handler(
        DomainError, lambda exc: refusal_page("windows/base.html", exc, "win"))
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    bp.after_request(no_store)

    @bp.get("")
    @require_user(*ROLES)
    def index() -> ResponseReturnValue:
        """An operator goes straight to their window; others pick one of the site's
        windows."""
        claims = signed_in()
        ctx = get_ctx()
        actor_of(claims, ctx.site, ctx.tier, ctx.catalogue())
        if claims.role in WINDOW_BOUND_ROLES and claims.window:
            return redirect(url_for(".queue", code=claims.window))
        windows = _site_windows(ctx, get_session())
        if claims.role == DEPARTMENT_HEAD:  # their department's windows only
            windows = [w for w in windows if w.department == claims.department]
        return render_template("windows/index.html", windows=windows, me=claims)

    @bp.get("/<code>")
    @require_user(*ROLES)
    def queue(code: str) -> ResponseReturnValue:
        """The window's open cases, nearest deadline first."""
        return _render_queue(get_ctx(), get_session(), code)

    @bp.post("/<code>/reassign")
    @require_user(*ROLES)
    def reassign(code: str) -> ResponseReturnValue:
        """A supervisor moves every case of the window an absent operator holds to a
        colleague (:mod:`shared.deciding.bulk_reassign`); back to the queue (303) with the count, or
        the queue again with what was wrong and nothing moved."""
        claims = signed_in()
        ctx = get_ctx()
        session = get_session()
        catalogue = ctx.catalogue()
        actor = actor_of(claims, ctx.site, ctx.tier, catalogue)
        check_window(claims, code, catalogue)
        catalogue.window(code)
        form = {k: request.form.get(k, "").strip() for k in ("from", "to", "reason")}
        try:
            body = BulkReassignSchema().load(form)
            done = bulk_reassign.reassign_all(
                session, ctx, actor, code, body["from_operator"], body["to_operator"],
                body["reason"], ctx.clock())
            session.commit()
        except ValidationError as exc:
            session.rollback()
            return _render_queue(ctx, session, code, problems=flatten_messages(exc.messages),
                                 form=form, status=400)
        except DomainError as exc:
            session.rollback()
            problems = exc.fields or {"": exc.reason}
            return _render_queue(ctx, session, code, problems=problems, form=form,
                                 status=exc.http_status)
        except BaseException:
            session.rollback()
            raise
        report = {"moved": len(done.moved), "from": done.from_operator,
                  "to": done.to_operator, "more": done.remaining}
        return redirect(f"{url_for('.queue', code=code)}?{urlencode(report)}", 303)

    @bp.get("/cases/<uuid:case_id>")
    @require_user(*ROLES)
    def case_page(case_id: uuid.UUID) -> ResponseReturnValue:
        """A case with its registration, materials, history and the actions open to the
        user."""
        done = request.args.get("done", "")
        return _render_case(get_ctx(), get_session(), case_id,
                            done=done if done in ACTION_FORMS else "")

    @bp.get("/cases/<uuid:case_id>/result.pdf")
    @require_user(*ROLES)
    def result_pdf(case_id: uuid.UUID) -> ResponseReturnValue:
        """The result document of a decided case (准予决定书, or the refusal notice 不予受理 /
        不予许可决定书, or 办理结果告知书), A4 or 80 mm (``layout``)."""
        ctx = get_ctx()
        events = case_work.case_events(get_session(), ctx.site, case_id)
        if not events:
            raise NotFound("case_id", "no such case at this site")
        claims = signed_in()
        case_in_reach(claims, fold(events).window, catalogue=ctx.catalogue())
        layout = request.args.get("layout", "a4")
        if layout not in LAYOUTS:
            raise Problems({"layout": f"one of {', '.join(LAYOUTS)}"}, "unknown layout")
        _audit(ctx, get_session(), claims, case_id)
        item_code = str(events[0].payload.get("item_code", ""))
        site = current_app.jinja_env.globals.get("site")
        try:
            document = result_document(events, site_name=str(getattr(site, "site_name", "")),
                                       # the official document is in Chinese
                                       item_name=_item_name(ctx.catalogue(), item_code, "zh"))
        except ValueError:
            raise StateConflict("state", "the case has no decision yet") from None
        data = render_result(document, find_fonts(), layout=layout,
                             public_base_url=public_base_url())
        response = Response(data, mimetype="application/pdf")
        response.headers["Content-Disposition"] = (
            f'inline; filename="{document.acceptance_no}-result-{layout}.pdf"')
        return response

    @bp.post("/cases/<uuid:case_id>/act")
    @require_user(*ROLES)
    def act(case_id: uuid.UUID) -> ResponseReturnValue:
        """Run one action from a case page's form; back to the page (303) when done, or the
        page again with the refusal and its status."""
        claims = signed_in()
        ctx = get_ctx()
        session = get_session()
        catalogue = ctx.catalogue()
        actor = actor_of(claims, ctx.site, ctx.tier, catalogue)
        _in_reach(claims, actor.department, case_work.case_state(session, ctx.site, case_id),
                  catalogue)
        action = request.form.get("action", "")
        try:
            act_request = _action_request(request.form)
        except ValidationError as exc:
            message = "; ".join(f"{k}: {v}"
                                for k, v in flatten_messages(exc.messages).items())
            refusal = Refusal(400, refusal_title(400, "win"), message, action, _reason_sent())
            return _render_case(ctx, session, case_id, refusal=refusal)
        now = ctx.clock()
        try:
            after = case_work.act(session, ctx.site, catalogue, ctx.calendar(), actor, case_id,
                                  act_request, now, versions=ctx.versions,
                                  warning_share=ctx.warning_share,
                                  receipts=ctx.store.receipts)
            ctx.store.refresh(session, case_id, now)
            session.commit()
        except DomainError as exc:
            session.rollback()
            message = exc.reason if not exc.field else f"{exc.field}: {exc.reason}"
            refusal = Refusal(exc.http_status,
                              refusal_title(exc.http_status, "win"),
                              message, action, _reason_sent())
            return _render_case(ctx, session, case_id, refusal=refusal)
        except BaseException:
            session.rollback()
            raise
        if claims.role in WINDOW_BOUND_ROLES and after.window != claims.window:
            # Transferred away: the case is no longer this operator's to read.
            return redirect(url_for(".queue", code=claims.window, done=action), 303)
        return redirect(url_for(".case_page", case_id=case_id, done=action), 303)

    return bp


@dataclass(frozen=True, slots=True)
class Moved:
    """A bulk reassignment just done, as the queue page reports it."""

    count: int
    from_operator: str
    to_operator: str
    more: int


def _moved_notice() -> Moved | None:
    """The outcome the reassignment's redirect put in the address, if any."""
    count = request.args.get("moved", "")
    if not count.isdigit():
        return None
    more = request.args.get("more", "")
    return Moved(int(count), request.args.get("from", "")[:64], request.args.get("to", "")[:64],
                 int(more) if more.isdigit() else 0)


def _render_queue(ctx: WindowContext, session: Session, code: str, *,
                  problems: Mapping[str, str] | None = None,
                  form: Mapping[str, str] | None = None,
                  status: int = 200) -> ResponseReturnValue:
    """The queue page; for a supervisor with the form that moves an absent operator's
    cases."""
    claims = signed_in()
    catalogue = ctx.catalogue()
    actor = actor_of(claims, ctx.site, ctx.tier, catalogue)
    check_window(claims, code, catalogue)
    window: Window = catalogue.window(code)
    now = ctx.clock()
    rows: list[QueueRow] = []
    for entry in ctx.store.queue(session, code, PAGE_ROWS, window.department):
        due = from_ms(entry.due_ms) if entry.due_ms is not None else None
        rows.append(QueueRow(
            case_id=entry.case_id,
            acceptance_no=entry.acceptance_no,
            item=_item_name(catalogue, entry.item_code),
            state=name_of("state", entry.state) + (f" · {t('win.co_approval')}"
                                                   if entry.co_approval else ""),
            claimed_by=entry.claimed_by,
            due=_due_day(due) if due is not None else None,
            left=_days_left(ctx, due, now) if due is not None else None,
        ))
    bulk = actor.role in bulk_reassign.BULK_ROLES
    html = render_template(
        "windows/queue.html", window=window, rows=rows, limit=PAGE_ROWS, me=claims,
        extensions=(_pending_extensions(ctx, session, rows)
                    if claims.role == DEPARTMENT_HEAD else None),
        done=ACTION_FORMS.get(request.args.get("done", "")), moved=_moved_notice(),
        bulk=bulk, problems=problems or {}, form=form or {},
        operators=bulk_reassign.window_operators(session, ctx.site.code, code) if bulk else [],
        owed=(ctx.store.owed(session, code, PAGE_ROWS) if claims.role == "finance" else None),
        item_name=lambda item_code: _item_name(catalogue, item_code), yuan=_yuan,
        state_name=lambda state: name_of("state", state),
    )
    return html, status


@dataclass(frozen=True, slots=True)
class PendingExtension:
    """An extension the window asked for and the head has not decided (延期待审批)."""

    row: QueueRow
    days: int
    reason: str


def _pending_extensions(ctx: WindowContext, session: Session,
                        rows: Sequence[QueueRow]) -> list[PendingExtension]:
    """The queue's cases waiting for the head's decision on an extension, so the head finds
    them without opening each case; the projection keeps no column for it (no migration),
    so the shown rows' logs are folded, which a head's page view can afford."""
    pending: list[PendingExtension] = []
    for row in rows:
        events = case_work.case_events(session, ctx.site, row.case_id)
        state = fold(events)
        if not state.extension_pending:
            continue
        asked = next((e for e in reversed(events)
                      if e.type is EventType.EXTENSION_REQUESTED), None)
        pending.append(PendingExtension(
            row, state.extension_requested or 0,
            str(asked.payload.get("reason", "")) if asked is not None else ""))
    return pending


def _reason_sent() -> str:
    return request.form.get("reason", "")[:2000]


def _action_request(form: MultiDict[str, str]) -> ActionRequest:
    """The form's fields, validated by the action API's own schema (blank inputs left out,
    so the schema's defaults apply)."""
    body: dict[str, Any] = {"action": form.get("action", "")}
    for name in _TEXT_INPUTS:
        value = form.get(name, "").strip()
        if value:
            body[name] = value
    for name in _LIST_INPUTS:
        values = [v.strip() for v in form.getlist(name) if v.strip()]
        if values:
            body[name] = values
    card = form.get("card", "").strip()
    if card:  # "origin/epoch/seq" of the card an appeal or a ruling is about
        parts = card.split("/")
        body["card"] = dict(zip(("origin", "epoch", "seq"),
                                [parts[0], *(int(p) if p.isdigit() else p for p in parts[1:])],
                                strict=False))
    ruling = form.get("ruling", "").strip()
    if ruling:
        body["ruling"] = ruling
    yuan = form.get("amount_yuan", "").strip()
    if yuan:  # typed in yuan, kept in fen: never a float on the way
        body["amount_fen"] = _fen_of(yuan)
    reductions = [{"code": key.removeprefix(_REDUCE), "amount_fen": _fen_of(value.strip()),
                   "reason": form.get(f"{_REDUCE_WHY}{key.removeprefix(_REDUCE)}", "")}
                  for key, value in form.items()
                  if key.startswith(_REDUCE) and not key.startswith(_REDUCE_WHY)
                  and value.strip()]
    if reductions:  # 减免 at acceptance, where the catalogue allows it
        body["fees"] = reductions
    data = ActionSchema().load(body)
    data["reductions"] = {r["code"]: (r["amount_fen"], r["reason"]) for r in data["reductions"]}
    return ActionRequest(**{k: v for k, v in data.items() if v is not None})


_REDUCE, _REDUCE_WHY = "reduce_", "reduce_why_"
"""The accept form's inputs of a reducible fee: the amount charged instead (yuan) and why."""


def _fen_of(yuan: str) -> int | str:
    """``yuan`` as whole fen, or the text itself (the schema then says it is no amount)."""
    try:
        amount = Decimal(yuan.replace(",", "").lstrip("¥"))
    except InvalidOperation:
        return yuan
    if not amount.is_finite() or (fen := amount * 100) != fen.to_integral_value():
        return yuan
    return int(fen)


def _audit(ctx: WindowContext, session: Session, claims: Claims, case_id: uuid.UUID) -> None:
    """The case page and the result document show the full record: logged first."""
    audit_view(engine_of_session(session), site=ctx.site.code, username=claims.username,
               role=claims.role, case_id=case_id, now=ctx.clock())


def _in_reach(claims: Claims, department: str | None, state: CaseState,
              catalogue: Catalogue) -> None:
    """The case's own window, or a department it was copied to for co-approval (会签)."""
    case_in_reach(claims, state.window, department=department,
                  co_approvers=[d for d, _ in state.joint_answers], catalogue=catalogue)


def _render_case(ctx: WindowContext, session: Session, case_id: uuid.UUID, *,
                 done: str = "", refusal: Refusal | None = None) -> ResponseReturnValue:
    claims = signed_in()
    catalogue = ctx.catalogue()
    actor = actor_of(claims, ctx.site, ctx.tier, catalogue)
    body = case_body(ctx, session, case_id)
    events = case_work.case_events(session, ctx.site, case_id)
    state = fold(events)
    _in_reach(claims, actor.department, state, catalogue)
    _audit(ctx, session, claims, case_id)
    item: ServiceItem | None = None
    rules: ItemRules | None = None
    # An item this catalogue does not know is shown, but nothing can be done to it.
    # the item as the catalogue release the case was accepted under has it
    chosen = case_work.case_catalogue(events, catalogue, ctx.versions)
    with contextlib.suppress(DomainError):
        item, rules = case_work.item_rules(chosen.catalogue, state.item_code or "", ctx.tier)
    now = ctx.clock()
    allowed = allowed_actions(state, rules, actor, now) if rules is not None else []
    actions = [a for a in allowed if a in ACTION_FORMS]
    registered = next((e.payload for e in events if e.type is EventType.REGISTERED), {})
    applicant = registered.get("applicant")
    form = registered.get("form")
    entries = [m for m in registered.get("materials") or [] if isinstance(m, Mapping)]
    # the scans first (their place is what the scan links name), then what the registration
    # took from the certificate store by reference (证照库调取), with the store's finding
    materials = case_scans(events)  # a supplement's scans after the registration's
    checks = ctx.reuse_checks(session, case_id) if ctx.reuse_checks is not None else None
    reused = [(code, _material_name(item, code), _reuse_verdict(checks, code))
              for m in entries if "reused" in m for code in [str(m.get("code", ""))]]
    reveal = claims.role == "window_operator" and claims.window == state.window
    due_text, left = _deadline(ctx, body.get("deadline"), state, now)
    page = render_template(
        "windows/case.html",
        me=claims,
        case=body,
        item=item,
        item_name=item.name.get(locale_name()) if item is not None else "",
        kind=name_of("kind", body["kind"]) if body["kind"] else "—",
        state_name=name_of("state", body["state"]),
        outcome=name_of("outcome", body["outcome"]) if body["outcome"] else "",
        due=due_text,
        left=left,
        applicant=_applicant_rows(applicant, reveal) if isinstance(applicant, Mapping) else [],
        delivery=name_of("delivery", str(registered.get("delivery", ""))),
        courier=_courier(events, reveal),
        form_rows=_form_rows(item, form) if isinstance(form, Mapping) else [],
        materials=[(str(m.get("code", "")), _material_name(item, str(m.get("code", ""))),
                    str(m.get("media_type", "")), _size(m.get("size"))) for m in materials],
        uploaded={str(m.get("code", "")) for m in materials}
        | {code for code, _, verdict in reused if verdict != "bad"},
        reused=reused,
        missing=[(code, _material_name(item, code)) for code in state.missing],
        history=_history(events, item),
        catalogue_version=chosen.catalogue.version,
        catalogue_note=chosen.note,
        actions=actions,
        may_rate="rate" in allowed,  # the tablet page (shared.web.rating_pages) links from here
        cards=_cards(events, allowed),
        procedures=SPECIAL_PROCEDURES,
        max_extension=MAX_EXTENSION_DAYS,
        clock=state,  # its special procedure under way and its extension
        rectification=state.rectification,
        fees=_fee_lines(events),
        fee_state=state,
        yuan=_yuan,
        now_ts=now.timestamp(),
        local=_local,
        callbacks=CALLBACK_OUTCOMES,
        forms=ACTION_FORMS,
        windows=_transfer_targets(catalogue, ctx.tier, state),
        done=ACTION_FORMS[done] if done else None,
        refusal=refusal,
    )
    return page, refusal.status if refusal is not None else 200


def _courier(events: Sequence[CaseEvent], reveal: bool) -> Mapping[str, str] | None:
    """Where the result goes by courier, as the applicant last gave it (the phone masked
    unless ``reveal``): what the hand-over sends it to."""
    refused = refused_keys(events)
    address = latest_courier_address((e.type.value, e.payload) for e in events
                                     if e.key not in refused)
    if address is not None and not reveal:
        address["phone"] = mask_phone(address["phone"])
    return address


def _reuse_verdict(checks: Mapping[str, str | None] | None, code: str) -> str:
    """``ok`` (the store vouched for it), ``bad`` (it did not: the window asks for it) or
    ``city`` (this site keeps no store: the city checks it)."""
    if checks is None or code not in checks:
        return "city"
    return "ok" if checks[code] is None else "bad"


@dataclass(frozen=True, slots=True)
class CardRow:
    """A yellow or red card of the case, and what the page offers on it."""

    key: str
    """``origin/epoch/seq`` of its ``signalled`` event, as the forms post it."""
    kind: str
    rule: str
    reason: str
    at: str
    status: str
    """standing, appealed, upheld or withdrawn."""
    appeal: bool
    """The signed-in user may appeal it (the case's window, or its department's head)."""
    rule_on: bool
    """The signed-in supervisor may uphold or withdraw it."""


def _cards(events: Sequence[CaseEvent], allowed: Sequence[str]) -> list[CardRow]:
    """The case's cards with their status: an appeal form while one stands, a ruling form
    for the supervisor while it is appealed."""
    status = card_statuses(events)
    rows = []
    for event in events:
        if event.type is not EventType.SIGNALLED or event.payload["kind"] == "warning":
            continue
        state = status.get(event.key, "standing")
        rows.append(CardRow(
            f"{event.origin}/{event.epoch}/{event.seq}", str(event.payload["kind"]),
            str(event.payload["rule"]), str(event.payload["reason"]),
            event.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"), state,
            state == "standing" and "appeal_card" in allowed,
            state == "appealed" and "rule_card" in allowed))
    return rows


def _deadline(ctx: WindowContext, deadline: object, state: CaseState,
              now: datetime) -> tuple[str, int | None]:
    """The due day and, while the case is open, the working days left."""
    if not isinstance(deadline, str):
        return "—", None
    due = datetime.fromisoformat(deadline)
    left = None if state.is_closed else _days_left(ctx, due, now)
    return _due_day(due), left


def _history(events: Sequence[CaseEvent], item: ServiceItem | None) -> list[HistoryRow]:
    return [HistoryRow(at=_local(e.at), type=e.type.value, name=name_of("event", e.type.value),
                       actor=f"{e.actor.username} ({e.actor.role.value})",
                       origin=f"{e.origin}#{e.seq}", detail=_detail(e, item))
            for e in events]


def _site_windows(ctx: WindowContext, session: Session) -> list[Window]:
    """The windows of this site's tier, and the lower-tier windows it staffs: a hub that
    decides county items for want of a county centre has operators of those windows."""
    catalogue = ctx.catalogue()
    windows = list(catalogue.windows_at(SiteTier(ctx.tier)))
    staffed = set(session.scalars(select(UserAccount.window).distinct().where(
        UserAccount.site == ctx.site.code, UserAccount.window.is_not(None))))
    known = {w.code for w in windows}
    windows += [w for w in catalogue.windows if w.code in staffed and w.code not in known]
    return windows


def _transfer_targets(catalogue: Catalogue, tier: str, state: CaseState) -> list[Window]:
    try:
        windows = catalogue.windows_at(SiteTier(tier))
    except ValueError:
        return []
    return [w for w in windows if w.code != state.window]
