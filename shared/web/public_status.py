"""The public status lookup (阳光审批) at every site: the page ``/status`` and the API
``GET /api/v1/public/status``, no login.

A citizen gives the acceptance number and the query code (typed, or in the link of the
receipt's QR code). The site answers from its own copy when it holds the case, with
``as_of`` saying how fresh that copy is; otherwise, while it has a parent, it asks the
parent (one request, the client named and vouched for: :mod:`shared.exchange.lookup_relay`)
and passes the answer on. A wrong pair says no more than "not found"; wrong pairs are
counted per client, and a client over the limit waits (429 with ``Retry-After``). Nothing
personal is shown: the item, where the case is, what is missing, the deadline, the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.domain.application import normalise_query_code
from shared.domain.case_state import STAGES
from shared.domain.delivery import CARRIERS
from shared.exchange.lookup_relay import HEADER, relay_header, relayed_client
from shared.exchange.site import SyncSite
from shared.exchange.transport import TransportError, get_json
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages, locale_name
from shared.web.rate_limit import FailureLimiter

API_PATH = "/api/v1/public/status"
PARENT_TIMEOUT = (5.0, 15.0)
"""Connect and read seconds for the one request to the parent: a citizen is waiting."""


class StatusQuerySchema(Schema):
    """The lookup's query string (the page's and the API's)."""

    class Meta:
        unknown = RAISE

    acceptance_no = fields.String(required=True, validate=validate.Length(min=1, max=40))
    query_code = fields.String(required=True, validate=validate.Length(min=1, max=20))
    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))


@dataclass(frozen=True, slots=True)
class StatusQuery:
    acceptance_no: str
    query_code: str
    lang: str


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """What the lookup says: 200 with the status, 404, 429 (with seconds to wait) or 503."""

    status: int
    body: Mapping[str, Any] | None = None
    retry_after: int | None = None


class StatusSite(Protocol):
    """What a site brings to the lookup."""

    @property
    def limiter(self) -> FailureLimiter:
        """Counts the wrong pairs per client."""

    def limiter_now(self) -> float:
        """Seconds on the clock the limiter counts with."""

    def clock(self) -> datetime:
        """The site's wall clock (relay signatures carry it)."""

    @property
    def sync_site(self) -> SyncSite: ...

    def own_copy(self, session: Session, query: StatusQuery) -> dict[str, Any] | None:
        """The status from this site's copy, ``as_of`` included; None when it holds no case
        with this pair."""

    def parent(self) -> tuple[str, str | bool] | None:
        """The parent's base URL and TLS verification, or None (the hub)."""


def look_up(site: StatusSite, session: Session, query: StatusQuery, address: str,
            relay: str | None) -> StatusAnswer:
    """Answer one lookup: the client is a child's vouched-for client or the address."""
    client = relayed_client(session, site.sync_site, relay, query.acceptance_no,
                            query.query_code, site.clock()) or address
    now = site.limiter_now()
    if site.limiter.blocked(client, now):
        return StatusAnswer(429, retry_after=site.limiter.retry_after(client, now))
    own = site.own_copy(session, query)
    if own is not None:
        return StatusAnswer(200, own)
    parent = site.parent()
    if parent is not None:
        answer = _ask_parent(site, parent, query, client)
        if answer.status != 404:
            return answer
    site.limiter.record_failure(client, now)
    return StatusAnswer(404)


def _ask_parent(site: StatusSite, parent: tuple[str, str | bool], query: StatusQuery,
                client: str) -> StatusAnswer:
    """One request to the parent; what it says, or 503 when it cannot be asked."""
    url, verify = parent
    header = relay_header(site.sync_site.key, client, query.acceptance_no, query.query_code,
                          site.clock())
    try:
        reply = get_json(url.rstrip("/") + API_PATH, headers={HEADER: header},
                         params={"acceptance_no": query.acceptance_no,
                                 "query_code": query.query_code, "lang": query.lang},
                         verify=verify, timeout=PARENT_TIMEOUT)
    except TransportError:
        return StatusAnswer(503, retry_after=60)
    if reply.status == 200 and isinstance(reply.body, dict) and _plausible(reply.body):
        return StatusAnswer(200, _passed_on(reply.body))
    if reply.status == 404:
        return StatusAnswer(404)
    if reply.status == 429:
        return StatusAnswer(429, retry_after=int(reply.retry_after or 60))
    return StatusAnswer(503, retry_after=60)


_KEYS = ("acceptance_no", "item_name", "state", "stage", "deadline", "missing", "outcome",
         "as_of")


def _plausible(body: Mapping[str, Any]) -> bool:
    """The parent's answer has the contract's keys (only those, and the missing materials'
    names, are passed on: :func:`_passed_on`)."""
    return all(k in body for k in _KEYS) and isinstance(body["missing"], list)


def _passed_on(body: Mapping[str, Any]) -> dict[str, Any]:
    answer = {k: body[k] for k in _KEYS}
    names = body.get("missing_names")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        answer["missing_names"] = names
    courier = body.get("courier")
    if isinstance(courier, dict) and set(courier) == {"carrier", "tracking_no", "at"} \
            and all(isinstance(v, str) for v in courier.values()):
        answer["courier"] = courier
    return answer


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def answer_response(answer: StatusAnswer, body: Mapping[str, Any] | None, *,
                    not_found: str) -> Response:
    """The JSON answer of a public lookup (the status, or a document's verification):
    ``body`` when found, otherwise the error its status says, with ``Retry-After`` when
    waiting helps."""
    if answer.status == 200 and body is not None:
        return jsonify(body)
    if answer.status == 404:
        return error_response(404, "not_found", not_found)
    if answer.status == 429:
        response = error_response(429, "too_many_requests", "too many tries; wait a while")
    else:
        response = error_response(503, "unavailable",
                                  "the case is not held here and the parent cannot be "
                                  "asked now; try again later")
    response.headers["Retry-After"] = str(answer.retry_after or 60)
    return response


def status_blueprint(site_of: Callable[[], StatusSite],
                     session_of: Callable[[], Session]) -> Blueprint:
    """The page and the API over ``site_of()``'s lookup."""
    bp = Blueprint("public", __name__, template_folder="templates")

    @bp.record_once
    def _texts(state: Any) -> None:
        add_messages(state.app, MESSAGES)

    def _query(args: Mapping[str, str]) -> StatusQuery:
        loaded = StatusQuerySchema().load(dict(args))
        return StatusQuery(loaded["acceptance_no"].strip(),
                           normalise_query_code(loaded["query_code"]), loaded["lang"])

    def _answer(query: StatusQuery) -> StatusAnswer:
        return look_up(site_of(), session_of(), query, request.remote_addr or "unknown",
                       request.headers.get(HEADER))

    @bp.get(API_PATH)
    def status_api() -> Response:
        try:
            query = _query(request.args)
        except ValidationError as exc:
            return error_response(400, "invalid", "acceptance_no and query_code are required",
                                  flatten_messages(exc.messages))
        answer = _answer(query)
        return answer_response(answer, _passed_on(answer.body) if answer.body else None,
                               not_found="no case with this number and code")

    @bp.get("/status")
    def status_page() -> tuple[str, int, dict[str, str]]:
        acceptance_no = request.args.get("acceptance_no", "").strip()[:40]
        context: dict[str, Any] = {"acceptance_no": acceptance_no, "result": None,
                                   "message": "", "stages": STAGE_NAMES, "as_of": None,
                                   "carriers": CARRIERS, "rate_url": None}
        status = 200
        headers: dict[str, str] = {"Cache-Control": "no-store"}
        if acceptance_no and request.args.get("query_code", "").strip():
            try:
                query = _query({"acceptance_no": acceptance_no,
                                "query_code": request.args.get("query_code", ""),
                                "lang": locale_name()})
                answer = _answer(query)
            except ValidationError:
                answer = StatusAnswer(404)
            status = answer.status
            if status == 200 and answer.body is not None:
                context["result"] = answer.body
                context["as_of"] = _instant(answer.body.get("as_of"))
                if ("online_rating" in current_app.blueprints
                        and answer.body.get("state") in ("result_issued", "handed_over")):
                    context["rate_url"] = url_for(  # the online hall's rating page
                        "online_rating.rate_page", acceptance_no=query.acceptance_no)
            else:
                context["message"] = {404: "pub.not_found", 429: "pub.too_many"}.get(
                    status, "pub.unavailable")
                if answer.retry_after:
                    headers["Retry-After"] = str(answer.retry_after)
        return render_template("public/status.html", **context), status, headers

    return bp


STAGE_NAMES: Mapping[str, tuple[str, str]] = {
    "queued_here": ("已登记,待上传", "registered, waiting to go up"),
    "sent_up": ("已移交上级", "handed up"),
    "received_by_city": ("市中心已接收", "received by the city"),
    "received_by_province": ("省中心已接收", "received by the province"),
    "new": ("已登记", "registered"),
    "queued_at_origin": ("已登记,待上传", "registered, waiting to go up"),
    "at_township": ("乡镇中心办理中", "at the township centre"),
    "at_county": ("县级中心办理中", "at the county centre"),
    "at_window": ("窗口办理中", "at the window"),
    "supplement_requested": ("待补正材料", "waiting for missing materials"),
    "awaiting_supplement": ("待补正材料", "waiting for missing materials"),
    "in_joint_approval": ("并联审批中", "in joint approval"),
    "with_higher_authority": ("上报上级审批中", "with the higher authority"),
    "decided": ("已办结", "decided"),
    "result_issued": ("已出结果", "result issued"),
    "handed_over": ("已转交申请人", "handed to the applicant"),
    "withdrawn": ("已撤回", "withdrawn"),
}
"""Every stage a site may answer with: a node's own (:mod:`node.case_progress`) and the
log's (:data:`shared.domain.case_state.STAGES`)."""
assert set(STAGES) <= set(STAGE_NAMES), set(STAGES) - set(STAGE_NAMES)

MESSAGES: Messages = {
    "pub.title": ("办件进度查询", "Case status"),
    "pub.acceptance_no": ("受理编号", "Acceptance no."),
    "pub.query_code": ("查询码", "Query code"),
    "pub.look_up": ("查询", "Look up"),
    "pub.item": ("事项", "Item"),
    "pub.stage": ("进度", "Stage"),
    "pub.outcome": ("办理结果", "Decision"),
    "pub.outcome_approved": ("准予", "approved"),
    "pub.outcome_rejected": ("不予", "refused"),
    "pub.outcome_withdrawn": ("已撤回", "withdrawn"),
    "pub.deadline": ("办结时限", "Due by"),
    "pub.missing": ("需补正的材料", "Missing materials"),
    "pub.as_of": ("信息更新于", "As of"),
    "pub.courier": ("快递送达", "Sent by courier"),
    "pub.not_found": ("受理编号或查询码不正确", "Not found: check the number and the code"),
    "pub.too_many": ("尝试次数过多,请稍后再试", "Too many tries; please wait a while"),
    "pub.unavailable": ("本站未存此件,且暂时无法向上级查询,请稍后再试",
                        "Not held here, and the centre above cannot be asked now; "
                        "try again later"),
}
