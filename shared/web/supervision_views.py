"""Electronic supervision (电子监察) at every deciding site — the hub and the township and
county nodes — in one blueprint:

- ``GET /api/v1/supervision/signals``: the warnings, cards and urges raised on the site's
  cases, newest first (the contract's shape; ``?kind=&window=``);
- ``GET /api/v1/reports/<day|week|month|year>?date=YYYY-MM-DD`` (``&format=csv``): the
  period's figures per window (:mod:`shared.deciding.supervision_reports` says what each
  counts); ``/supervision/reports/<period>`` shows them as a page with SVG bars;
- ``GET /supervision``: the supervisor's dashboard, where a supervisor lands after signing
  in: open, paused and overdue cases per window, the signals of the last days and the cases
  nearest their deadline;
- ``GET /supervision/trace?username=``: the life-long trace (终身追溯) of one person's work
  (``&format=csv``); supervisors and admins read anyone's, everyone their own;
- ``GET /board``: the hall's board (no login): today's figures in large type, refreshing
  itself every minute; no case and no person on it, the figures cached for 30 seconds.

Plain HTML with a few hundred bytes of CSS and no script, for 64 kbit/s links.
"""

from __future__ import annotations

import csv
import io
import threading
import time as clock_time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.deciding import work_trace
from shared.deciding.case_projection import ProjectionModel
from shared.deciding.case_signals import MAX_LIST, SignalFilter, list_signals
from shared.deciding.dashboard_counts import live_counts
from shared.deciding.supervision_reports import (
    PERIODS,
    BoardFigures,
    board_figures,
    csv_text,
)
from shared.deciding.supervision_reports import report as period_report
from shared.deciding.window_context import WindowContext
from shared.domain.case_events import SIGNAL_KINDS
from shared.domain.catalogue import Catalogue
from shared.domain.csv_cells import safe_cell
from shared.domain.errors import NotFound
from shared.domain.working_days import SHANGHAI
from shared.pdf.fonts import find_fonts
from shared.pdf.report_document import render_report
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages, locale_name
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user
from sync_protocol.times import from_ms, to_ms

OVERSEERS = ("supervisor", "admin")
BOARD_SECONDS = 30.0
"""How long the board's figures are reused: a wall screen per hall costs one query a while."""
BOARD_REFRESH = 60
NEAREST = 20
RECENT_DAYS = 7

MESSAGES: Messages = {
    "sup.title": ("电子监察", "Supervision"),
    "sup.dashboard": ("监察首页", "Dashboard"),
    "sup.reports": ("统计报表", "Reports"),
    "sup.window": ("窗口", "Window"),
    "sup.by_tier": ("按层级", "By tier"),
    "sup.by_department": ("按部门", "By department"),
    "sup.by_window": ("按窗口", "By window"),
    "sup.by_item": ("按事项", "By item"),
    "sup.carded": ("亮牌", "Carded"),
    "sup.tier": ("层级", "Tier"),
    "sup.department": ("部门", "Department"),
    "sup.item": ("事项", "Item"),
    "sup.tier.township": ("乡镇", "Township"),
    "sup.tier.county": ("县", "County"),
    "sup.tier.city": ("市", "City"),
    "sup.tier.external": ("外部机关", "External"),
    "sup.tier.?": ("未知", "Unknown"),
    "sup.open": ("在办", "Open"),
    "sup.paused": ("暂停计时", "Clock stopped"),
    "sup.near": ("一日内到期", "Due within a day"),
    "sup.overdue": ("已超期", "Overdue"),
    "sup.signals": ("近期预警与亮牌", "Recent warnings and cards"),
    "sup.nearest": ("临近期限的案件", "Cases nearest their deadline"),
    "sup.none": ("无", "None"),
    "sup.kind": ("类别", "Kind"),
    "sup.reason": ("原因", "Reason"),
    "sup.at": ("时间", "At"),
    "sup.due": ("期限", "Deadline"),
    "sup.state": ("状态", "State"),
    "sup.warning": ("预警", "Warning"),
    "sup.yellow_card": ("黄牌", "Yellow card"),
    "sup.red_card": ("红牌", "Red card"),
    "sup.urge": ("催办", "Urge"),
    "sup.day": ("日报", "Day"),
    "sup.week": ("周报", "Week"),
    "sup.month": ("月报", "Month"),
    "sup.year": ("年报", "Year"),
    "sup.received": ("受理", "Received"),
    "sup.completed": ("办结", "Completed"),
    "sup.on_time": ("按时办结", "On time"),
    "sup.early": ("提前办结", "Early"),
    "sup.average_days": ("平均用时(天)", "Average days"),
    "sup.satisfaction_rate": ("满意率", "Satisfaction"),
    "sup.warnings": ("预警", "Warnings"),
    "sup.yellow_cards": ("黄牌", "Yellow cards"),
    "sup.red_cards": ("红牌", "Red cards"),
    "sup.urges": ("催办", "Urges"),
    "sup.materials_reused": ("证照库复用材料", "Materials reused from the certificate store"),
    "sup.rectification": ("差评整改", "Bad ratings rectified"),
    "sup.one_forms": ("一件事一次办", "One thing, one form"),
    "sup.consultations": ("咨询投诉", "Consultations and complaints"),
    "sup.cons_kind": ("类别", "Kind"),
    "sup.cons_consultations": ("咨询", "Questions"),
    "sup.cons_complaints": ("投诉", "Complaints"),
    "sup.cons_received": ("受理", "Received"),
    "sup.cons_answered": ("已答复", "Answered"),
    "sup.cons_answered_on_time": ("按期答复", "On time"),
    "sup.cons_overdue": ("超期", "Overdue"),
    "sup.composite": ("一件事", "Composite"),
    "sup.one_applications": ("申请件数", "Applications"),
    "sup.one_complete": ("全部办结", "Complete"),
    "sup.one_fields_spared": ("少填字段", "Fields spared"),
    "sup.one_materials_spared": ("少交材料", "Materials spared"),
    "sup.one_form_note": ("与逐项分别申请相比;共用的字段和材料只填、只交一次。",
                          "Against applying item by item: shared fields and materials are "
                          "asked once."),
    "sup.rectifications": ("到期整改", "Due"),
    "sup.rectified_on_time": ("按时答复", "Answered on time"),
    "sup.rectifications_overdue": ("超期整改", "Overdue"),
    "sup.callbacks_satisfied": ("回访满意", "Satisfied on call-back"),
    "sup.total": ("合计", "Total"),
    "sup.csv": ("下载 CSV", "CSV"),
    "sup.trace": ("终身追溯", "Work trace"),
    "sup.event": ("操作", "Action"),
    "sup.role": ("身份", "Role"),
    "sup.site": ("办理地", "Site"),
    "sup.older": ("更早", "Older"),
    "board.title": ("今日办件", "Today"),
    "board.received": ("今日受理", "Received today"),
    "board.completed": ("今日办结", "Completed today"),
    "board.on_time": ("按时办结率", "On time"),
    "board.open": ("在办件", "Open"),
    "board.overdue": ("超期件", "Overdue"),
    "board.satisfaction": ("满意率", "Satisfaction"),
    "sup.waiting": ("排队等候时长（分钟）", "Waiting in the hall (minutes)"),
    "sup.wait_called": ("叫号数", "Called"),
    "sup.wait_average": ("平均", "Average"),
    "sup.wait_max": ("最长", "Longest"),
    "sup.wait_area": ("服务区", "Area"),
    "board.calling": ("请到窗口", "Now calling"),
    "board.waiting": ("等候人数", "Waiting"),
}


class SignalQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.String(load_default=None, validate=validate.OneOf([*SIGNAL_KINDS, "urge"]))
    window = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["standing", "appealed", "upheld", "withdrawn"]))
    limit = fields.Integer(load_default=MAX_LIST, validate=validate.Range(min=1, max=MAX_LIST))


class TraceQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    username = fields.String(load_default="", validate=validate.Length(max=64))
    before = fields.Integer(load_default=None, validate=validate.Range(min=0))
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "csv"]))


def _trace_csv(rows: list[work_trace.TraceRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["at", "event", "role", "case_id", "acceptance_no", "window", "site"])
    for r in rows:
        writer.writerow([safe_cell(v) for v in (_iso(r.at_ms), r.type, r.role, str(r.case_id),
                                                r.acceptance_no, r.window, r.recorded_at)])
    return out.getvalue()


class ReportQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    date = fields.Date(required=True, format="%Y-%m-%d")
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "pdf"]))


def _private(response: Response) -> Response:
    """An answer about the site's cases: not cached, never framed."""
    kept: Response = no_store(response)
    return kept


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).isoformat() if ms is not None else None


def _department_name(catalogue: Catalogue, code: str) -> str:
    try:
        return catalogue.department(code).name.get(locale_name())
    except NotFound:
        return code


def _local(ms: int | None) -> str:
    return from_ms(ms).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if ms else "—"


def supervision_blueprint(get_session: Callable[[], Session],
                          get_ctx: Callable[[], WindowContext],
                          model: ProjectionModel,
                          hall_board: Callable[[Session, datetime], Any] | None = None
                          ) -> Blueprint:
    """The ``supervision`` blueprint (see the module's docstring). ``hall_board`` gives the
    hall's figures for the board where the site has a hall (the hub: the tickets last called
    per window and the counts waiting per area, :func:`hub.hall_queue.board`)."""
    bp = Blueprint("supervision", __name__, template_folder="templates")
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    board_cache: dict[str, tuple[float, BoardFigures, Any]] = {}
    board_lock = threading.Lock()

    def load(schema: Schema) -> dict[str, Any] | Response:
        try:
            data: dict[str, Any] = schema.load(request.args)
        except ValidationError as exc:
            return error_response(400, "invalid", "invalid query",
                                  flatten_messages(exc.messages))
        return data

    @bp.get("/api/v1/supervision/signals")
    @require_user(*OVERSEERS)
    def signals() -> Response:
        args = load(SignalQuery())
        if isinstance(args, Response):
            return args
        ctx = get_ctx()
        signal_model = model.signal_model
        found = [] if signal_model is None else list_signals(
            get_session(), signal_model, ctx.site.code,
            SignalFilter(kind=args["kind"], window=args["window"], status=args["status"]),
            int(args["limit"]))
        body = [{"case_id": str(s.case_id), "acceptance_no": s.acceptance_no,
                 "window": s.window, "kind": s.kind, "rule": s.rule, "reason": s.reason,
                 "at": _iso(s.at_ms), "status": s.status,
                 "card": {"origin": s.origin, "epoch": s.epoch, "seq": s.seq}}
                for s in found]
        return _private(jsonify({"signals": body}))

    @bp.get("/api/v1/reports/<period>")
    @require_user(*OVERSEERS)
    def report(period: str) -> Response:
        if period not in PERIODS:
            return error_response(404, "not_found", f"periods: {', '.join(PERIODS)}",
                                  {"period": f"one of {', '.join(PERIODS)}"})
        args = load(ReportQuery())
        if isinstance(args, Response):
            return args
        ctx = get_ctx()
        body = period_report(get_session(), model, ctx.site.code, period, args["date"],
                             ctx.catalogue())
        if args["format"] == "pdf":
            site_name = str(getattr(current_app.jinja_env.globals.get("site"), "site_name", ""))
            pdf = render_report(body, site_name, find_fonts())
            return _private(Response(pdf, mimetype="application/pdf", headers={
                "Content-Disposition":
                    f'attachment; filename="report-{period}-{body["from"]}.pdf"'}))
        if args["format"] == "csv":
            name = f"report-{period}-{body['from']}.csv"
            text = csv_text(body["rows"], body["consultations"])
            return _private(Response(text, mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{name}"'}))
        return _private(jsonify(body))

    @bp.get("/supervision/reports/<period>")
    @require_user(*OVERSEERS)
    def report_page(period: str) -> Response | str:
        if period not in PERIODS:
            return error_response(404, "not_found", f"periods: {', '.join(PERIODS)}")
        ctx = get_ctx()
        raw = request.args.get("date")
        try:
            day = date.fromisoformat(raw) if raw else ctx.clock().astimezone(SHANGHAI).date()
        except ValueError:
            return error_response(400, "invalid", "invalid query",
                                  {"date": "a date as YYYY-MM-DD"})
        body = period_report(get_session(), model, ctx.site.code, period, day, ctx.catalogue())
        peak = max([1, *(max(r["received"], r["completed"]) for r in body["rows"])])
        return render_template("supervision/report.html", report=body, peak=peak,
                               periods=PERIODS, day=day.isoformat(), me=signed_in())

    @bp.get("/supervision")
    @require_user(*OVERSEERS)
    def dashboard() -> str:
        ctx = get_ctx()
        session, site, now = get_session(), ctx.site.code, ctx.clock()
        now_ms = to_ms(now)
        m = model
        catalogue = ctx.catalogue()
        counts = live_counts(session, m, catalogue, site=site,
                             every_site=ctx.site.is_root, now_ms=now_ms)
        nearest = session.scalars(
            select(m).where(m.owner_site == site, m.open == 1, m.decided_ms.is_(None),
                            m.paused == 0, m.due_ms.is_not(None))
            .order_by(m.due_ms).limit(NEAREST)).all()
        signal_model = m.signal_model
        recent = [] if signal_model is None else list_signals(
            session, signal_model, site,
            SignalFilter(since_ms=to_ms(now - timedelta(days=RECENT_DAYS))), 50)
        return render_template(
            "supervision/dashboard.html", counts=counts, nearest=nearest, recent=recent,
            local=_local, now_ms=now_ms, periods=PERIODS, me=signed_in(), site=site,
            department_name=lambda code: _department_name(catalogue, code))

    @bp.get("/supervision/trace")
    @require_user()
    def trace_page() -> Response | str:
        """One person's work, for the supervisors and admins; everyone may read their own."""
        args = load(TraceQuery())
        if isinstance(args, Response):
            return args
        claims = signed_in()
        username = args["username"] or claims.username
        if username != claims.username and claims.role not in OVERSEERS:
            return error_response(403, "not_permitted", "only your own work",
                                  {"username": "supervisors and admins read others' work"})
        csv_wanted = args["format"] == "csv"
        rows = work_trace.trace(get_session(), model, username, before_ms=args["before"],
                                limit=work_trace.CSV_LIMIT if csv_wanted else work_trace.PAGE)
        if csv_wanted:
            return _private(Response(_trace_csv(rows), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="trace-{username}.csv"'}))
        older = rows[-1].at_ms if len(rows) == work_trace.PAGE else None
        return render_template("supervision/trace.html", rows=rows, username=username,
                               older=older, local=_local, me=claims)

    @bp.get("/board")
    def board() -> Response:
        ctx = get_ctx()
        with board_lock:
            held = board_cache.get("figures")
            if held is None or clock_time.monotonic() - held[0] > BOARD_SECONDS:
                now = ctx.clock()
                held = (clock_time.monotonic(),
                        board_figures(get_session(), model, ctx.site.code, now),
                        hall_board(get_session(), now) if hall_board else None)
                board_cache["figures"] = held
        page = render_template("supervision/board.html", figures=held[1], hall=held[2],
                               refresh=BOARD_REFRESH)
        response = Response(page, mimetype="text/html")
        response.headers["Cache-Control"] = f"public, max-age={int(BOARD_SECONDS)}"
        return response

    return bp
