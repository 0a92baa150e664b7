"""The public verify page and API of every site (no login): is this result document
genuine, and is it unaltered?

``GET /verify`` (a form with the acceptance number and the verification code, filled in
from the document's QR code) and ``GET /api/v1/public/verify?acceptance_no=..&code=..``.
The answer comes from this site's copy of the case (:mod:`shared.deciding.document_verify`):
the issuing site and time, the facts to compare with the paper (the applicant's name
masked), and whether the facts worked out again from the log match the signed digest and
the issuing event's signature verifies. A site that does not hold the case asks its parent
once, naming its client as the status lookup does (:mod:`shared.exchange.lookup_relay`), and
passes the answer on. A wrong pair says no more than "not found" and counts against the
client in the same failure limiter as the status lookup (:mod:`shared.web.public_status`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from flask import Blueprint, Response, current_app, render_template, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.deciding.document_verify import DocumentCheck, check_document, public_facts
from shared.exchange.lookup_relay import HEADER, relay_header, relayed_client
from shared.exchange.site import SyncSite
from shared.exchange.transport import TransportError, get_json
from shared.pdf.document_facts import grouped
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages
from shared.web.public_status import StatusAnswer, answer_response
from shared.web.rate_limit import FailureLimiter

API_PATH = "/api/v1/public/verify"
PARENT_TIMEOUT = (5.0, 15.0)
"""Connect and read seconds for the one request to the parent: someone is waiting."""
_BASE_URL_KEY = "sanji.public_base_url"


class VerifyQuerySchema(Schema):
    """The verify query string (the page's and the API's)."""

    class Meta:
        unknown = RAISE

    acceptance_no = fields.String(required=True, validate=validate.Length(min=1, max=40))
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))


class VerifySite(Protocol):
    """What a site brings to the verify page: the status lookup's limiter, its copy."""

    @property
    def limiter(self) -> FailureLimiter: ...

    def limiter_now(self) -> float: ...

    def clock(self) -> datetime:
        """The site's wall clock (relay signatures carry it)."""

    @property
    def sync_site(self) -> SyncSite: ...

    def parent(self) -> tuple[str, str | bool] | None:
        """The parent's base URL and TLS verification, or None (the hub)."""

    def case_id_of(self, session: Session, acceptance_no: str) -> uuid.UUID | None:
        """The case this site holds under ``acceptance_no``, or None."""

    def item_name(self, item_code: str) -> str:
        """The item's Chinese name as the catalogue has it (the code when it has none)."""


def verify_document(site: VerifySite, session: Session, acceptance_no: str, code: str,
                    address: str, relay: str | None = None) -> StatusAnswer:
    """Answer one verification; the client is a child's vouched-for client or the address,
    and a wrong pair counts as its failure."""
    client = relayed_client(session, site.sync_site, relay, acceptance_no, _signed(code),
                            site.clock()) or address
    now = site.limiter_now()
    if site.limiter.blocked(client, now):
        return StatusAnswer(429, retry_after=site.limiter.retry_after(client, now))
    case_id = site.case_id_of(session, acceptance_no)
    check = check_document(session, site.sync_site, case_id, code) if case_id else None
    if check is not None:
        return StatusAnswer(200, _body(site, acceptance_no, check))
    parent = site.parent()
    if case_id is None and parent is not None:
        answer = _ask_parent(site, parent, acceptance_no, code, client)
        if answer.status != 404:
            return answer
    site.limiter.record_failure(client, now)
    return StatusAnswer(404)


def _signed(code: str) -> str:
    """What the relay header signs in the query code's place: the code, marked as a
    verification's so a status lookup's header cannot stand for it."""
    return f"verify:{code}"


def _ask_parent(site: VerifySite, parent: tuple[str, str | bool], acceptance_no: str,
                code: str, client: str) -> StatusAnswer:
    """One request to the parent; what it says, or 503 when it cannot be asked."""
    url, verify = parent
    header = relay_header(site.sync_site.key, client, acceptance_no, _signed(code),
                          site.clock())
    try:
        reply = get_json(url.rstrip("/") + API_PATH, headers={HEADER: header},
                         params={"acceptance_no": acceptance_no, "code": code},
                         verify=verify, timeout=PARENT_TIMEOUT)
    except TransportError:
        return StatusAnswer(503, retry_after=60)
    body = reply.body
    if reply.status == 200 and isinstance(body, dict) and set(body) >= _KEYS \
            and body.get("genuine") is True:
        return StatusAnswer(200, {k: body[k] for k in sorted(_KEYS)})
    if reply.status == 404:
        return StatusAnswer(404)
    if reply.status == 429:
        return StatusAnswer(429, retry_after=int(reply.retry_after or 60))
    return StatusAnswer(503, retry_after=60)


_KEYS = frozenset({"acceptance_no", "genuine", "code", "issuer", "issued_at", "facts",
                   "unaltered", "checks", "checked_by"})
"""The answer's keys: only these are passed on from the parent."""


def _body(site: VerifySite, acceptance_no: str, check: DocumentCheck) -> dict[str, Any]:
    facts = check.facts
    return {
        "acceptance_no": acceptance_no, "genuine": True,
        "code": grouped(check.mark.code),
        "issuer": {"site": check.mark.site, "key_id": check.mark.key_id},
        "issued_at": check.issued_at.isoformat(),
        "facts": public_facts(facts, site.item_name(facts.item_code)) if facts else None,
        "unaltered": check.unaltered,
        "checks": {"facts_digest": check.facts_match,
                   "signature": check.signature.body()},
        "checked_by": site.sync_site.code,
    }


def public_base_url() -> str:
    """The address citizens reach this site at (printed into the documents' QR codes): the
    one the verify blueprint was registered with, else the request's own."""
    base = current_app.extensions.get(_BASE_URL_KEY)
    return str(base) if base else request.url_root


def document_check_blueprint(site_of: Callable[[], VerifySite],
                             session_of: Callable[[], Session], *,
                             base_url: str) -> Blueprint:
    """The verify page and API over ``site_of()``'s copy; ``base_url``: the site's public
    address (:func:`public_base_url`)."""
    bp = Blueprint("document_check", __name__, template_folder="templates")

    @bp.record_once
    def _setup(state: Any) -> None:
        add_messages(state.app, MESSAGES)
        state.app.extensions[_BASE_URL_KEY] = base_url

    def _answer(acceptance_no: str, code: str) -> StatusAnswer:
        return verify_document(site_of(), session_of(), acceptance_no, code,
                               request.remote_addr or "unknown", request.headers.get(HEADER))

    @bp.get(API_PATH)
    def verify_api() -> Response:
        try:
            query = VerifyQuerySchema().load(dict(request.args))
        except ValidationError as exc:
            return error_response(400, "invalid", "acceptance_no and code are required",
                                  flatten_messages(exc.messages))
        answer = _answer(query["acceptance_no"].strip(), query["code"])
        return answer_response(answer, answer.body,
                               not_found="no document with this number and code")

    @bp.get("/verify")
    def verify_page() -> tuple[str, int, dict[str, str]]:
        acceptance_no = request.args.get("acceptance_no", "").strip()[:40]
        code = request.args.get("code", "").strip()[:40]
        context: dict[str, Any] = {"acceptance_no": acceptance_no, "code": code,
                                   "result": None, "message": ""}
        status = 200
        headers = {"Cache-Control": "no-store"}
        if acceptance_no and code:
            answer = _answer(acceptance_no, code)
            status = answer.status
            if answer.status == 200 and answer.body is not None:
                context["result"] = answer.body
                context["issued_at"] = datetime.fromisoformat(answer.body["issued_at"])
            else:
                context["message"] = {404: "ver.not_found", 429: "ver.too_many"}.get(
                    status, "ver.unavailable")
                if answer.retry_after:
                    headers["Retry-After"] = str(answer.retry_after)
        return render_template("public/verify.html", **context), status, headers

    return bp


MESSAGES: Messages = {
    "ver.title": ("办理结果文书核验", "Verify a result document"),
    "ver.acceptance_no": ("受理编号", "Acceptance no."),
    "ver.code": ("验证码", "Verification code"),
    "ver.check": ("核验", "Verify"),
    "ver.genuine": ("文书真实：本站存有签发记录", "Genuine: this site holds its issue"),
    "ver.unaltered": ("内容未被篡改：与签名记录一致", "Unaltered: it matches the signed record"),
    "ver.altered": ("警告：文书记录与签名不一致，请向签发单位核实",
                    "Warning: the record does not match its signature; ask the issuing "
                    "centre"),
    "ver.issuer": ("签发单位", "Issued by"),
    "ver.key": ("签名密钥", "Signing key"),
    "ver.issued_at": ("签发时间", "Issued at"),
    "ver.applicant": ("申请人", "Applicant"),
    "ver.item": ("申请事项", "Item"),
    "ver.outcome": ("办理结果", "Decision"),
    "ver.outcome_approved": ("准予", "approved"),
    "ver.outcome_rejected": ("不予", "refused"),
    "ver.outcome_withdrawn": ("已撤件", "withdrawn"),
    "ver.decision_date": ("决定日期", "Decided on"),
    "ver.reference": ("文号", "Reference"),
    "ver.compare": ("请与纸质文书逐项核对", "Compare each line with the paper"),
    "ver.not_found": ("未找到与此受理编号和验证码相符的文书",
                      "No document with this number and code"),
    "ver.too_many": ("尝试次数过多,请稍后再试", "Too many tries; please wait a while"),
    "ver.unavailable": ("本站未存此件,且暂时无法向上级查询,请稍后再试",
                        "Not held here, and the centre above cannot be asked now; "
                        "try again later"),
}
