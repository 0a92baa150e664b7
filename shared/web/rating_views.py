"""The supervisor's rating figures (好差评统计) at every deciding site:
``GET /supervision/ratings?period=day|week|month|year&date=YYYY-MM-DD`` shows, for the cases
the site decided in the period, how many were rated at each of the five levels, the rated
share and the satisfaction rate per window, department and item
(:mod:`shared.deciding.rating_figures` says what each counts), with one SVG bar chart of the
levels per window; ``&format=csv`` gives the same rows as a file.

Plain HTML with the supervision pages' few hundred bytes of CSS and no script, for 64 kbit/s
links. Supervisors and admins only (the access tables name the endpoint with the other
supervision pages').
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.rating_figures import csv_text, rating_figures
from shared.deciding.supervision_reports import PERIODS
from shared.deciding.window_context import WindowContext
from shared.domain.catalogue import Catalogue
from shared.domain.errors import NotFound
from shared.domain.rating import RATINGS
from shared.domain.working_days import SHANGHAI
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages, locale_name
from shared.web.pages import no_store, signed_in
from shared.web.sign_in import require_user
from shared.web.supervision_views import OVERSEERS

LEVEL_COLOURS = {"very_satisfied": "#1b5e20", "satisfied": "#43a047",
                 "basically_satisfied": "#c0ca33", "dissatisfied": "#fb8c00",
                 "very_dissatisfied": "#c62828"}
"""The chart's colour per level, best (green) to worst (red)."""

MESSAGES: Messages = {
    "rfig.title": ("好差评统计", "Ratings"),
    "rfig.decided": ("办结", "Decided"),
    "rfig.rated": ("已评价", "Rated"),
    "rfig.rated_share": ("参评率", "Rated share"),
    "rfig.satisfaction_rate": ("满意率", "Satisfaction"),
    "rfig.rule": ("满意率 = (非常满意 + 满意 + 基本满意) ÷ 已评价件数;按办结时间计入统计期。",
                  "Satisfaction = (very satisfied + satisfied + basically satisfied) ÷ rated "
                  "cases; a case counts in the period it was decided."),
    "rfig.by_window": ("按窗口", "By window"),
    "rfig.by_department": ("按部门", "By department"),
    "rfig.by_item": ("按事项", "By item"),
    "rfig.total": ("合计", "Total"),
    "rfig.none": ("本期无办结件", "Nothing decided in this period"),
    "rfig.csv": ("下载 CSV", "CSV"),
    "rfig.level.very_satisfied": ("非常满意", "Very satisfied"),
    "rfig.level.satisfied": ("满意", "Satisfied"),
    "rfig.level.basically_satisfied": ("基本满意", "Basically satisfied"),
    "rfig.level.dissatisfied": ("不满意", "Dissatisfied"),
    "rfig.level.very_dissatisfied": ("非常不满意", "Very dissatisfied"),
}


class RatingQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))
    date = fields.Date(load_default=None, format="%Y-%m-%d")
    format = fields.String(load_default="html", validate=validate.OneOf(["html", "csv"]))


def _names(catalogue: Catalogue) -> dict[str, Callable[[str], str]]:
    """How each view's key is shown: a department and an item by their name."""

    def department(code: str) -> str:
        try:
            return f"{catalogue.department(code).name.get(locale_name())}"
        except NotFound:
            return code

    def item(code: str) -> str:
        try:
            return f"{code} {catalogue.item(code).name.get(locale_name())}"
        except NotFound:
            return code

    return {"window": str, "department": department, "item": item}


def rating_views_blueprint(get_session: Callable[[], Session],
                           get_ctx: Callable[[], WindowContext],
                           model: ProjectionModel) -> Blueprint:
    """The ``rating_figures`` blueprint: ``/supervision/ratings`` (see the module)."""
    bp = Blueprint("rating_figures", __name__, template_folder="templates")
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    bp.after_request(no_store)

    @bp.get("/supervision/ratings")
    @require_user(*OVERSEERS)
    def page() -> ResponseReturnValue:
        try:
            args: dict[str, Any] = RatingQuery().load(request.args)
        except ValidationError as exc:
            return error_response(400, "invalid", "invalid query",
                                  flatten_messages(exc.messages))
        ctx = get_ctx()
        catalogue = ctx.catalogue()
        day = args["date"] or ctx.clock().astimezone(SHANGHAI).date()
        figures = rating_figures(get_session(), model, catalogue, ctx.site.code,
                                 args["period"], day)
        if args["format"] == "csv":
            name = f"ratings-{args['period']}-{figures.period.first.isoformat()}.csv"
            return Response(csv_text(figures), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{name}"'})
        peak = max([1, *(row.rated for row in figures.windows)])
        return render_template(
            "supervision/ratings.html", figures=figures, period=args["period"],
            day=day.isoformat(), periods=PERIODS, levels=RATINGS, colours=LEVEL_COLOURS,
            peak=peak, names=_names(catalogue), me=signed_in())

    return bp
