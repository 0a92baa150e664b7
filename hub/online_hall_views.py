"""The online service hall's pages and API (网上服务大厅), open 7×24 at the hub's public site.

Pages (plain HTML forms, no script, each well under 60 KB): sign up and sign in with a code
texted to the phone, "my applications", an application per item of the service guide with
its uploads and pre-check, each case's progress with the answer to a supplement request. The
API takes the two steps of signing up for programs and tests: ``POST /api/v1/online/codes``
and ``POST /api/v1/online/accounts``.

An applicant's sign-in lives in the site's session cookie under its own key, apart from
staff sign-ins: no staff view reads it, and signing in starts a new session
(:func:`shared.web.security_policy.start_session`), with the same idle and total timeouts as
staff sessions. Every form carries the session's form token.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from marshmallow import RAISE, Schema, fields, validate

from hub.db_session import get_session
from hub.front_desk import load_body
from hub.online_hall_accounts import (
    CODE_DIGITS,
    CodeNotAccepted,
    OnlineHall,
    TooManyCodes,
    account_by_phone,
    applicant_phone,
    check_phone,
    check_sign_up,
    create_account,
    identity_of,
    send_code,
    take_code,
    wrong_codes_wait,
)
from hub.online_hall_cases import (
    ONLINE_DELIVERIES,
    Draft,
    change_courier_address,
    courier_address_of,
    load_draft,
    own_case,
    own_cases,
    precheck,
    precheck_one_form,
    provide_supplement,
    registered_delivery,
    save_draft,
    store_scans,
    submit,
    submitted_case,
)
from hub.online_hall_models import OnlineAccount
from hub.online_hall_retention import is_anonymised
from hub.online_hall_texts import MESSAGES
from hub.privacy.certificates import Held, held_for
from hub.services import services
from shared.domain.catalogue import ServiceItem
from shared.domain.certificates import holder_number
from shared.domain.composites import OneFormView, one_form_view
from shared.domain.delivery import COURIER_FIELDS
from shared.domain.errors import DomainError, InvalidInput, NotFound, Problems, StateConflict
from shared.web.application_form import applicant_from_form, scans_from_form
from shared.web.error_responses import error_response
from shared.web.i18n import add_messages, locale_name, t
from shared.web.public_status import STAGE_NAMES
from shared.web.rate_limit import failure_counts_of
from shared.web.security_policy import end_session, start_session
from shared.web.sign_in import safe_next
from sync_protocol.times import from_ms, to_ms

bp = Blueprint("online_hall", __name__)
ACCOUNT_KEY = "online_account"
P = ParamSpec("P")


@bp.record_once
def _texts(state: Any) -> None:
    add_messages(state.app, MESSAGES)


def hall() -> OnlineHall:
    hub = services()
    return OnlineHall(keys=hub.data_keys, sealer=hub.payload_sealer,
                      counts=failure_counts_of(current_app), gateway=hub.sms.gateway,
                      centre=hub.settings.site_name)


def _address() -> str:
    return request.remote_addr or "unknown"


def current_account() -> OnlineAccount | None:
    """The applicant signed in on this browser, if any."""
    account_id = session.get(ACCOUNT_KEY)
    if not isinstance(account_id, int):
        return None
    account = get_session().get(OnlineAccount, account_id)
    return None if account is None or is_anonymised(account) else account


def applicant_only(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Let a page run only for a signed-in applicant; others go to the sign-in page."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if current_account() is None:
            target = request.full_path if request.query_string else request.path
            return redirect(url_for("online_hall.sign_in", next=target))
        return view(*args, **kwargs)

    return guarded


def _account() -> OnlineAccount:
    account = current_account()
    if account is None:  # applicant_only has run
        raise NotFound("account", "not signed in")
    return account


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int, dict[str, str]]:
    return (render_template(template, account=current_account(), **context), status,
            {"Cache-Control": "no-store"})


def _sign_in_as(account: OnlineAccount) -> None:
    start_session()  # nothing of the session before carries over
    session[ACCOUNT_KEY] = account.id


# -- signing up and in ---------------------------------------------------------------------

def _code_message(exc: CodeNotAccepted) -> str:
    return t(f"oh.code_{exc.reason}")


@bp.route("/online/signup", methods=["GET", "POST"])
def sign_up() -> ResponseReturnValue:
    """Sign up: the applicant's particulars, a code to the phone, then the account."""
    values = dict(request.form) if request.method == "POST" else {}
    kind = "company" if (values.get("applicant.kind") or request.args.get("kind")) == "company" \
        else "person"
    context: dict[str, Any] = {"values": values, "errors": {}, "kind": kind,
                               "code_sent": False, "message": ""}
    if request.method == "GET":
        return _page("online/sign_up.html", **context)
    applicant = applicant_from_form(values)
    hub = services()
    now = hub.clock()
    try:
        checked = check_sign_up(applicant, now)
    except Problems as exc:
        context["errors"] = exc.fields
        return _page("online/sign_up.html", 400, **context)
    phone = checked.contact_phone
    db = get_session()
    if request.form.get("action") != "sign_up":
        return _send_and_render("online/sign_up.html", db, phone, context)
    context["code_sent"] = True
    try:
        index = _take(db, phone, request.form.get("code", ""))
        account = create_account(db, hall(), checked, index, now)
        db.commit()
    except CodeNotAccepted as exc:
        context["errors"] = {"code": _code_message(exc)}
        return _page("online/sign_up.html", 400, **context)
    except TooManyCodes as exc:
        context["message"] = t("oh.too_many").format(seconds=exc.retry_after)
        return _page("online/sign_up.html", 429, **context)
    except StateConflict:
        db.rollback()
        context["errors"] = {"applicant.phone": t("oh.has_account")}
        return _page("online/sign_up.html", 409, **context)
    _sign_in_as(account)
    return redirect(safe_next(request.args.get("next")) if request.args.get("next")
                    else url_for("online_hall.home"), 303)


def _take(db: Any, phone: str, code: str) -> str:
    """Use up the phone's code; :class:`TooManyCodes` when the address has guessed too
    often, :class:`CodeNotAccepted` for a wrong, old or used-up code."""
    now = services().clock()
    wait = wrong_codes_wait(hall(), _address(), now)
    if wait is not None:
        raise TooManyCodes(wait)
    return take_code(db, hall(), phone, code, _address(), now)


def _send_and_render(template: str, db: Any, phone: str,
                     context: dict[str, Any]) -> ResponseReturnValue:
    try:
        minutes = send_code(db, hall(), phone, _address(), services().clock()) // 60
    except TooManyCodes as exc:
        context["message"] = t("oh.too_many").format(seconds=exc.retry_after)
        return _page(template, 429, **context)
    except StateConflict:
        context["message"] = t("oh.sms_down")
        return _page(template, 503, **context)
    context.update(code_sent=True, message=t("oh.code_sent").format(minutes=minutes))
    return _page(template, **context)


@bp.route("/online/signin", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    """Sign in: the phone, then the code texted to it."""
    values = dict(request.form) if request.method == "POST" else {}
    context: dict[str, Any] = {"values": values, "errors": {}, "code_sent": False,
                               "message": "", "next": request.args.get("next", "")}
    if request.method == "GET":
        return _page("online/sign_in.html", **context)
    try:
        phone = check_phone(values.get("phone", ""))
    except InvalidInput as exc:
        context["errors"] = {"phone": exc.reason}
        return _page("online/sign_in.html", 400, **context)
    db = get_session()
    if request.form.get("action") != "sign_in":
        return _send_and_render("online/sign_in.html", db, phone, context)
    context["code_sent"] = True
    try:
        index = _take(db, phone, request.form.get("code", ""))
    except CodeNotAccepted as exc:
        context["errors"] = {"code": _code_message(exc)}
        return _page("online/sign_in.html", 400, **context)
    except TooManyCodes as exc:
        context["message"] = t("oh.too_many").format(seconds=exc.retry_after)
        return _page("online/sign_in.html", 429, **context)
    account = account_by_phone(db, index)
    if account is not None:  # the retention run counts from the last sign-in
        account.signed_in_ms = to_ms(services().clock())
    db.commit()  # the code is used either way
    if account is None:
        context.update(code_sent=False, message=t("oh.no_account"))
        return _page("online/sign_in.html", 404, **context)
    _sign_in_as(account)
    target = request.args.get("next")
    return redirect(safe_next(target) if target else url_for("online_hall.home"), 303)


@bp.post("/online/signout")
def sign_out() -> ResponseReturnValue:
    end_session()
    return redirect(url_for("online_hall.sign_in"), 303)


# -- applications ----------------------------------------------------------------------------

@bp.get("/online")
@applicant_only
def home() -> ResponseReturnValue:
    """My applications, newest first, and the items one may apply for."""
    account = _account()
    rows = own_cases(get_session(), account.id)
    catalogue = services().catalogue
    names = {item.code: item.name.get(_lang()) for item in catalogue.items}
    cases = [{"case_id": r.case_id, "acceptance_no": r.acceptance_no,
              "item": names.get(r.item_code, r.item_code), "stage": _stage(r.stage),
              "registered": from_ms(r.registered_ms)} for r in rows]
    identity = identity_of(hall(), account)
    return _page("online/home.html", cases=cases, items=catalogue.items,
                 one_forms=catalogue.composites, families=catalogue.adaptors,
                 name=identity.get("name", ""))


def _lang() -> str:
    return "en" if locale_name() == "en" else "zh"


def _stage(stage: str) -> str:
    names = STAGE_NAMES.get(stage)
    return (names[1] if _lang() == "en" else names[0]) if names else stage


def _item(code: str) -> ServiceItem:
    return services().catalogue.item(code)  # NotFound: 404 by the error handler


def _draft_values(draft: Draft) -> dict[str, str]:
    return {**{f"form.{k}": v for k, v in draft.form.items()}, "delivery": draft.delivery,
            **{f"courier.{k}": v for k, v in draft.courier.items()}}


def _typed_courier() -> dict[str, str]:
    """The courier address's inputs as typed (``courier.<field>``), blanks left out."""
    return {k: request.form.get(f"courier.{k}", "").strip() for k in COURIER_FIELDS
            if request.form.get(f"courier.{k}", "").strip()}


def _courier_labels() -> dict[str, str]:
    return {f"courier.{k}": t(f"oh.courier_{k}") for k in COURIER_FIELDS}


def _render_apply(item: ServiceItem | OneFormView, draft: Draft, problems: dict[str, str], *,
                  checked: bool, status: int = 200) -> ResponseReturnValue:
    """The application form; the certificate store is asked (and the question logged) only
    when the applicant pressed its button or ticked a held material, never on a GET."""
    identity = identity_of(hall(), _account())
    lang = _lang()
    labels = {**{f"form.{f.key}": f.label.get(lang) for f in item.form.fields},
              **{f"file.{m.code}": m.name.get(lang) for m in item.materials},
              "delivery": t("oh.delivery"), **_courier_labels()}
    return _page("online/apply.html", status, item=item, values=_draft_values(draft),
                 errors=problems, labels=labels, checked=checked, held=draft.materials,
                 in_store=(_in_store(item, identity)
                           if request.method == "POST" and (
                               request.form.get("action") == "find_held" or draft.reuse)
                           else {}),
                 reused=draft.reuse, store_offered=not isinstance(item, OneFormView),
                 consent=draft.consent,
                 submit_key=uuid.uuid4().hex,
                 one_form=item if isinstance(item, OneFormView) else None,
                 deliveries=ONLINE_DELIVERIES, applicant=identity,
                 courier_fields=COURIER_FIELDS,
                 texts={"choose": t("oh.choose"), "yes": t("oh.yes"), "no": t("oh.no")})


def _in_store(item: ServiceItem | OneFormView, applicant: Mapping[str, Any]
              ) -> dict[str, Held]:
    """What the certificate store holds for the applicant of ``item``'s materials, valid
    today (证照库); the look-up is logged like the desk's. None offered for a one form."""
    number = holder_number(applicant)
    if isinstance(item, OneFormView) or number is None:
        return {}
    hub = services()
    session = get_session()
    found = held_for(session, hub.data_keys, hub.catalogue, number, item.code,
                     asked_by=f"online-{_account().id}", now=hub.clock())
    session.commit()
    return {held.material_code: held for held in found}


@bp.get("/online/apply/<item_code>")
@applicant_only
def apply_form(item_code: str) -> ResponseReturnValue:
    item = _item(item_code)
    draft = load_draft(get_session(), services(), _account().id, item.code)
    return _render_apply(item, draft, {}, checked=False)


@bp.get("/online/one/<code>")
@applicant_only
def one_form_page(code: str) -> ResponseReturnValue:
    """A one-form application (一表制): one form for several departments' items."""
    view = _one_form(code)
    draft = load_draft(get_session(), services(), _account().id, view.code)
    return _render_apply(view, draft, {}, checked=False)


@bp.post("/online/one/<code>")
@applicant_only
def one_form_submit(code: str) -> ResponseReturnValue:
    """:func:`apply_submit` for a one-form application: a case per part once submitted."""
    return _apply(_one_form(code))


def _one_form(code: str) -> OneFormView:
    catalogue = services().catalogue
    return one_form_view(catalogue, catalogue.composite(code))  # NotFound: 404


@bp.post("/online/apply/<item_code>")
@applicant_only
def apply_submit(item_code: str) -> ResponseReturnValue:
    """Keep the answers and the scans; then pre-check (``action=check``) or submit. The
    same form submitted twice (its ``submit_key``) answers with the case it registered."""
    return _apply(_item(item_code))


def _apply(item: ServiceItem | OneFormView) -> ResponseReturnValue:
    hub = services()
    db = get_session()
    account = _account()
    now = hub.clock()
    submit_key = request.form.get("submit_key", "")
    if not _SUBMIT_KEY.fullmatch(submit_key):
        submit_key = ""
    done = submitted_case(db, account.id, submit_key) if submit_key else None
    if done is not None and request.form.get("action") == "submit":
        return redirect(url_for("online_hall.case_page", case_id=done, new=1), 303)
    draft = load_draft(db, hub, account.id, item.code)
    draft.form = {f.key: request.form.get(f"form.{f.key}", "")
                  for f in item.form.fields if request.form.get(f"form.{f.key}", "").strip()}
    draft.delivery = request.form.get("delivery", draft.delivery)
    draft.courier = _typed_courier()
    draft.reuse = [{"material_code": m.code, "ref": request.form.get(f"reuse.{m.code}", "")}
                   for m in item.materials if request.form.get(f"reuse.{m.code}", "")]
    draft.consent = request.form.get("reuse_consent") == "yes"
    upload_errors: dict[str, str] = {}
    files = scans_from_form(item, request.files, upload_errors)
    for code in request.form.getlist("drop"):
        draft.drop(code)
    store_scans(hub, files)
    draft.add(files)
    save_draft(db, hub, account.id, item.code, draft, now)
    db.commit()
    applicant = identity_of(hall(), account)
    _, problems = (precheck_one_form(hub, item, applicant, draft, now)
                   if isinstance(item, OneFormView) else precheck(hub, item, applicant, draft,
                                                                  now))
    problems.update(upload_errors)
    if request.form.get("action") != "submit" or problems:
        return _render_apply(item, draft, problems, checked=True,
                             status=400 if problems and request.form.get("action") == "submit"
                             else 200)
    try:
        written = submit(db, hub, account.id, item, applicant, now, submit_key)
    except Problems as exc:
        return _render_apply(item, draft, exc.fields, checked=True, status=400)
    except StateConflict:
        done = submitted_case(db, account.id, submit_key) if submit_key else None
        if done is not None:
            return redirect(url_for("online_hall.case_page", case_id=done, new=1), 303)
        return redirect(url_for("online_hall.home"), 303)
    return redirect(url_for("online_hall.case_page", case_id=written.case_id, new=1), 303)


_SUBMIT_KEY = re.compile(r"[0-9a-f]{32}")


@bp.get("/online/cases/<uuid:case_id>")
@applicant_only
def case_page(case_id: uuid.UUID) -> ResponseReturnValue:
    done = request.args.get("done", "")
    return _render_case(case_id, {}, t(done) if done in _DONE else "")


_DONE = ("oh.supplement_done", "oh.supplement_part", "oh.address_changed")


def _render_case(case_id: uuid.UUID, errors: dict[str, str], message: str,
                 status: int = 200) -> ResponseReturnValue:
    hub = services()
    case = own_case(get_session(), hub, _account().id, case_id)
    lang = _lang()
    try:
        item: ServiceItem | None = hub.catalogue.item(case.item_code)
    except DomainError:
        item = None
    state = case.state
    missing = [(code, item.material_names([code], lang)[0] if item else code)
               for code in state.missing] if state.stage == "awaiting_supplement" else []
    history = [(e.at, t(f"win.event.{e.type.value}")) for e in case.events
               if e.type.value in _SHOWN_EVENTS]
    delivery = registered_delivery(case.events)
    address = courier_address_of(case.events)
    typed = (request.form if request.method == "POST" and request.endpoint ==
             "online_hall.courier" else {})
    return _page("online/case.html", status, case=case, item=item, missing=missing,
                 history=history, stage=_stage(state.stage), errors=errors,
                 message=message, new=request.args.get("new") == "1",
                 due=from_ms(case.due_ms) if case.due_ms else None,
                 delivery=delivery, address=address,
                 # the address may change until the result is issued (then it is used)
                 address_open=delivery == "courier" and state.state.value not in _ADDRESS_FIXED,
                 courier_fields=COURIER_FIELDS, labels=_courier_labels(),
                 courier_values={f"courier.{k}": typed.get(f"courier.{k}", (address or {}).get(
                     k, "")) for k in COURIER_FIELDS},
                 outcome=state.outcome.value if state.outcome else None)


_ADDRESS_FIXED = frozenset({"result_issued", "handed_over", "withdrawn"})


_SHOWN_EVENTS = frozenset({
    "registered", "courier_address_given", "received", "routed", "accepted",
    "supplement_requested",
    "material_added", "supplement_provided", "copies_sent", "reviewed", "checked",
    "rejected", "reported_up", "external_decision_recorded", "deemed_approved",
    "result_issued", "result_handed_over", "withdrawn", "rated"})
"""What the applicant's timeline shows: the case's steps, not the hub's bookkeeping."""


@bp.post("/online/cases/<uuid:case_id>/supplement")
@applicant_only
def supplement(case_id: uuid.UUID) -> ResponseReturnValue:
    """The scans answering the window's supplement request (一次性告知)."""
    hub = services()
    db = get_session()
    account = _account()
    case = own_case(db, hub, account.id, case_id)
    try:
        item = hub.catalogue.item(case.item_code)
    except DomainError:
        return _render_case(case_id, {"file": t("oh.item_gone")}, "", 409)
    errors: dict[str, str] = {}
    files = scans_from_form(item, request.files, errors, set(case.state.missing))
    if errors:
        return _render_case(case_id, errors, "", 400)
    try:
        complete = provide_supplement(db, hub, account.id, case_id, files, hub.clock())
    except InvalidInput as exc:
        return _render_case(case_id, {exc.field: exc.reason}, "", 400)
    except StateConflict:
        return _render_case(case_id, {}, t("oh.no_supplement"), 409)
    message = "oh.supplement_done" if complete else "oh.supplement_part"
    return redirect(url_for("online_hall.case_page", case_id=case_id, done=message), 303)


@bp.post("/online/cases/<uuid:case_id>/courier")
@applicant_only
def courier(case_id: uuid.UUID) -> ResponseReturnValue:
    """A new address for the courier (快递地址), until the result is issued."""
    hub = services()
    try:
        change_courier_address(get_session(), hub, _account().id, case_id,
                               _typed_courier(), hub.clock())
    except Problems as exc:
        return _render_case(case_id, exc.fields, "", 400)
    except StateConflict:
        return _render_case(case_id, {}, t("oh.address_fixed"), 409)
    return redirect(url_for("online_hall.case_page", case_id=case_id,
                            done="oh.address_changed"), 303)


# -- the API ---------------------------------------------------------------------------------

class CodeRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    phone = fields.String(required=True, validate=validate.Length(min=1, max=20))


class AccountRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    applicant = fields.Dict(required=True)
    code = fields.String(required=True, validate=validate.Length(min=CODE_DIGITS,
                                                                 max=CODE_DIGITS + 4))


def _too_many(retry_after: int) -> Response:
    response = error_response(429, "too_many_requests", "too many codes asked for or tried; "
                              "try again later")
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/api/v1/online/codes")
def code_api() -> ResponseReturnValue:
    """Text a one-time code to a mobile number (for signing up or in)."""
    body = load_body(CodeRequestSchema())
    phone = check_phone(body["phone"])
    try:
        seconds = send_code(get_session(), hall(), phone, _address(), services().clock())
    except TooManyCodes as exc:
        return _too_many(exc.retry_after)
    return jsonify({"sent": True, "expires_in": seconds}), 202


@bp.post("/api/v1/online/accounts")
def account_api() -> ResponseReturnValue:
    """Sign up with the applicant's particulars and the code texted to their phone; the
    response's session cookie is signed in."""
    body = load_body(AccountRequestSchema())
    now = services().clock()
    applicant = check_sign_up(body["applicant"], now)  # Problems: 400 naming each field
    phone = check_phone(applicant_phone(applicant.to_dict()))
    db = get_session()
    try:
        index = _take(db, phone, body["code"])
    except TooManyCodes as exc:
        return _too_many(exc.retry_after)
    except CodeNotAccepted as exc:
        return error_response(400, "invalid", "the code does not open",
                               {"code": _CODE_REASONS[exc.reason]})
    account = create_account(db, hall(), applicant, index, now)  # StateConflict: 409
    db.commit()
    _sign_in_as(account)
    return jsonify({"account_id": account.id, "kind": account.kind}), 201


_CODE_REASONS = {
    "wrong": "wrong code",
    "expired": "no code in force for this phone: ask for a new one",
    "used_up": "too many wrong tries: ask for a new code",
}
