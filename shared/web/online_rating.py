"""Rating online (网上评价), no login: the page ``/rate`` (linked from the status page once the
result is issued) and the API ``POST /api/v1/public/rating``.

The citizen opens the case with the receipt's acceptance number and query code, picks one of
the five 好差评 levels, may score the online channel's two indicators (guide accuracy,
convenience) and leave a comment. A wrong pair says "not found" and counts against the
client as a wrong lookup does (the same limiter); the case must have its result and no
rating yet. Recording it is the site's (:class:`RatingSite`): the hub, whose online hall
this is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, render_template, request
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.domain.application import normalise_query_code
from shared.domain.errors import NotFound, Problems, StateConflict
from shared.domain.rating import CHANNELS, INDICATOR_NAMES, MAX_COMMENT, RATINGS, rating_payload
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages
from shared.web.rate_limit import FailureLimiter

API_PATH = "/api/v1/public/rating"
INDICATORS = CHANNELS["online"]


class RatingSite(Protocol):
    """What a site brings to online rating."""

    @property
    def limiter(self) -> FailureLimiter:
        """The public lookup's limiter: wrong pairs here count with wrong lookups."""

    def limiter_now(self) -> float: ...

    def record(self, session: Session, acceptance_no: str, query_code: str,
               payload: dict[str, Any]) -> str:
        """Record and commit the rating; the case id. NotFound or StateConflict."""


class RatingSchema(Schema):
    """The API's body, and the page's form once read."""

    class Meta:
        unknown = RAISE

    acceptance_no = fields.String(required=True, validate=validate.Length(min=1, max=40))
    query_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    rating = fields.String(required=True, validate=validate.OneOf(RATINGS))
    indicators = fields.Dict(keys=fields.String(validate=validate.OneOf(INDICATORS)),
                             values=fields.Integer(strict=True, validate=validate.Range(1, 5)),
                             load_default=dict)
    comment = fields.String(load_default="", validate=validate.Length(max=MAX_COMMENT))


class _FormSchema(RatingSchema):
    class Meta:
        unknown = EXCLUDE  # the CSRF token and the submit button


def _form_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The page's fields as the API's body (blank scores left out)."""
    scores = {key: int(form[f"i_{key}"]) for key in INDICATORS
              if form.get(f"i_{key}", "").isdigit()}
    return {k: v for k, v in {
        "acceptance_no": form.get("acceptance_no", "").strip(),
        "query_code": form.get("query_code", ""), "rating": form.get("rating"),
        "indicators": scores, "comment": form.get("comment", "")}.items() if v is not None}


def online_rating_blueprint(site_of: Callable[[], RatingSite],
                            session_of: Callable[[], Session]) -> Blueprint:
    """The page and the API over ``site_of()``."""
    bp = Blueprint("online_rating", __name__, template_folder="templates")

    @bp.record_once
    def _texts(state: Any) -> None:
        add_messages(state.app, MESSAGES)

    def _rate(data: Mapping[str, Any]) -> tuple[int, str]:
        """(status, message key); 200 once recorded."""
        site = site_of()
        client, now = request.remote_addr or "unknown", site.limiter_now()
        if site.limiter.blocked(client, now):
            return 429, "online.too_many"
        payload = rating_payload(data["rating"], channel="online",
                                 indicators=dict(data["indicators"]), comment=data["comment"])
        try:
            site.record(session_of(), data["acceptance_no"].strip(),
                        normalise_query_code(data["query_code"]), payload)
        except NotFound:
            site.limiter.record_failure(client, now)
            return 404, "online.not_found"
        except StateConflict as exc:
            return 409, ("online.already" if exc.field == "rating" else "online.not_yet")
        return 200, "online.thanks"

    @bp.post(API_PATH)
    def rate_api() -> Response:
        try:
            data = RatingSchema().load(request.get_json(silent=True) or {})
        except ValidationError as exc:
            return error_response(400, "invalid", "the rating is not complete",
                                  flatten_messages(exc.messages))
        status, key = _rate(data)
        if status == 200:
            return jsonify({"rated": True})
        text = MESSAGES[key][1]
        code = {404: "not_found", 409: "conflict", 429: "too_many_requests"}[status]
        response = error_response(status, code, text)
        if status == 429:
            response.headers["Retry-After"] = "60"
        return response

    @bp.route("/rate", methods=["GET", "POST"])
    def rate_page() -> tuple[str, int, dict[str, str]]:
        source = request.form if request.method == "POST" else request.args
        context: dict[str, Any] = {
            "acceptance_no": source.get("acceptance_no", "").strip()[:40],
            "query_code": source.get("query_code", "").strip()[:20],
            "ratings": RATINGS, "indicators": INDICATORS, "names": INDICATOR_NAMES,
            "message": "", "done": False}
        status = 200
        if request.method == "POST":
            try:
                data = _FormSchema().load(_form_body(request.form))
            except (ValidationError, Problems):
                status, key = 400, "online.incomplete"
            else:
                status, key = _rate(data)
            context.update(message=key, done=status == 200)
        return (render_template("public/rate.html", **context), status,
                {"Cache-Control": "no-store"})

    return bp


MESSAGES: Messages = {
    "online.title": ("网上评价", "Rate the service"),
    "online.level": ("总体评价", "Overall"),
    "online.very_satisfied": ("非常满意", "Very satisfied"),
    "online.satisfied": ("满意", "Satisfied"),
    "online.basically_satisfied": ("基本满意", "Basically satisfied"),
    "online.dissatisfied": ("不满意", "Dissatisfied"),
    "online.very_dissatisfied": ("非常不满意", "Very dissatisfied"),
    "online.comment": ("意见建议", "Comment"),
    "online.submit": ("提交评价", "Submit"),
    "online.thanks": ("感谢您的评价。不满意的评价将由办理部门在15个工作日内整改并回访。",
                    "Thank you. A dissatisfied rating is answered by the department "
                    "within 15 working days, and you will be called back."),
    "online.not_found": ("受理编号或查询码不正确", "Not found: check the number and the code"),
    "online.too_many": ("尝试次数过多,请稍后再试", "Too many tries; please wait a while"),
    "online.already": ("此件已评价过,每件只能评价一次", "This case has been rated already"),
    "online.not_yet": ("办理结果出具后才能评价", "You can rate once the result is issued"),
    "online.incomplete": ("请选择总体评价", "Please choose an overall rating"),
    "online.open": ("评价本次服务", "Rate this service"),
}
