"""The rating page at the window (好差评评价器): a tablet-sized page the operator turns toward
the citizen once the result is given, at every deciding site that registers cases (the hub's
front desk, a township's or county's own intake).

It shows only what the citizen needs to know it is their case — the acceptance number, the
item and the applicant's masked name — then the five levels of the national scheme as five
big buttons, the window's three indicators (efficiency, attitude, level of service) as rows of
five stars, a comment box and one submit. The submit is the window workflow's ``rate`` action
(:func:`shared.deciding.case_work.act`, the same path as ``POST /api/v1/cases/<id>/actions``)
with the channel ``window``: the workflow says who may rate (people at the site that
registered the case) and that a case is rated once. After it a thank-you screen that names
no case, so the next citizen does not see the previous one's rating, with the operator's
link back to the desk.

No script and no image: radio buttons styled as big touch targets (at least 48 px) with a few
hundred bytes of inline CSS, the whole page a few kilobytes for 64 kbit/s links.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.window_context import WindowContext
from shared.domain.case_events import Actor, EventType
from shared.domain.case_state import CaseState, fold
from shared.domain.errors import DomainError, NotFound, StateConflict
from shared.domain.identity import mask_name
from shared.domain.rating import CHANNELS, INDICATOR_NAMES, MAX_COMMENT, RATINGS
from shared.domain.window_workflow import ActionRequest, perform
from shared.web.error_responses import flatten_messages
from shared.web.i18n import Messages, add_messages, locale_name, t
from shared.web.pages import no_store, refusal_page, refusal_title, signed_in
from shared.web.record_scope import case_in_reach
from shared.web.sign_in import require_user
from shared.web.window_api import ActionSchema, actor_of
from shared.web.window_pages import ROLES

CHANNEL = "window"
INDICATORS = CHANNELS[CHANNEL]
"""The indicators a window rating scores: efficiency, attitude, level of service."""

MESSAGES: Messages = {
    "rate.title": ("服务评价", "Rate our service"),
    "rate.open": ("请申请人评价(平板)", "Rating by the applicant (tablet)"),
    "rate.case": ("受理编号", "Acceptance no."),
    "rate.item": ("事项", "Item"),
    "rate.applicant": ("申请人", "Applicant"),
    "rate.how": ("您对本次办事服务满意吗?", "How satisfied are you with this service?"),
    "rate.indicators": ("分项评价(可选,1-5 星)", "In detail (optional, 1 to 5 stars)"),
    "rate.comment": ("意见或建议(可选)", "Comment (optional)"),
    "rate.submit": ("提交评价", "Submit"),
    "rate.thanks": ("感谢您的评价!", "Thank you for your rating!"),
    "rate.thanks_more": ("您的意见将帮助我们改进服务。", "It helps us serve you better."),
    "rate.back": ("返回窗口工作台(工作人员)", "Back to the window desk (staff)"),
    "rate.already": ("本件已评价,每件只能评价一次。",
                     "This case has already been rated: one rating per case."),
    "rate.error": ("无法评价", "Cannot rate"),
    "rate.refused_400": ("请检查", "Please check"),
    "rate.refused_403": ("无权操作", "Not permitted"),
    "rate.refused_404": ("未找到", "Not found"),
    "rate.refused_409": ("无法评价", "Cannot rate"),
    "rate.level.very_satisfied": ("非常满意", "Very satisfied"),
    "rate.level.satisfied": ("满意", "Satisfied"),
    "rate.level.basically_satisfied": ("基本满意", "Basically satisfied"),
    "rate.level.dissatisfied": ("不满意", "Dissatisfied"),
    "rate.level.very_dissatisfied": ("非常不满意", "Very dissatisfied"),
}


@dataclass(frozen=True, slots=True)
class RatedCase:
    """What the citizen sees of their case: nothing personal but a masked name."""

    case_id: uuid.UUID
    acceptance_no: str
    item: str
    applicant: str
    state: CaseState


def _case(ctx: WindowContext, session: Session, case_id: uuid.UUID) -> tuple[RatedCase, Actor]:
    """The case as the signed-in user may reach it (as on the window's case page: another
    window's case is 404, as an unknown id) and the user as the workflow's actor."""
    claims = signed_in()
    catalogue = ctx.catalogue()
    actor = actor_of(claims, ctx.site, ctx.tier, catalogue)
    events = case_work.case_events(session, ctx.site, case_id)
    if not events:
        raise NotFound("case_id", "no such case at this site")
    state = fold(events)
    case_in_reach(claims, state.window, department=actor.department,
                  co_approvers=[d for d, _ in state.joint_answers], catalogue=catalogue)
    registered = next((e.payload for e in events if e.type is EventType.REGISTERED), {})
    applicant = registered.get("applicant")
    name = str(applicant.get("name", "")) if isinstance(applicant, Mapping) else ""
    chosen = case_work.case_catalogue(events, catalogue, ctx.versions).catalogue
    try:
        item = chosen.item(state.item_code or "").name.get(locale_name())
    except DomainError:
        item = state.item_code or ""
    return RatedCase(case_id, str(registered.get("acceptance_no", "")), item,
                     mask_name(name), state), actor


def _refusal(ctx: WindowContext, rated: RatedCase, actor: Actor) -> DomainError | None:
    """Why this user may not rate this case now (None: they may), as the workflow judges a
    ``rate`` action; a case rated already says so plainly."""
    if rated.state.rating is not None:
        return StateConflict("rating", t("rate.already"))
    try:
        _, rules = case_work.item_rules(ctx.catalogue(), rated.state.item_code or "", ctx.tier)
        perform(rated.state, rules, actor,
                ActionRequest(action="rate", rating=RATINGS[0]), ctx.clock())
    except DomainError as exc:
        return exc
    return None


def _form_request(form: Mapping[str, str]) -> ActionRequest:
    """The submitted form as the action API's body, validated by its own schema; an
    indicator left blank is not scored."""
    indicators: dict[str, Any] = {}
    for key in INDICATORS:
        value = form.get(key, "").strip()
        if value:
            indicators[key] = int(value) if value.isdigit() else value
    body: dict[str, Any] = {"action": "rate", "indicators": indicators,
                            "comment": form.get("comment", "").strip()}
    if form.get("rating"):
        body["rating"] = form["rating"]
    data = ActionSchema().load(body)
    return ActionRequest(**{k: v for k, v in data.items() if v is not None})


def rating_pages_blueprint(get_session: Callable[[], Session],
                           get_ctx: Callable[[], WindowContext]) -> Blueprint:
    """The ``rating`` blueprint: ``GET``/``POST /windows/rate/<id>`` and
    ``/windows/rate/thanks``, given the pair the window pages are given."""
    bp = Blueprint("rating", __name__, url_prefix="/windows/rate",
                   template_folder="templates")
    bp.register_error_handler(
        DomainError, lambda exc: refusal_page("rating/base.html", exc, "rate"))
    bp.record_once(lambda state: add_messages(state.app, MESSAGES))
    bp.after_request(no_store)

    def render(rated: RatedCase, *, problem: str = "", form: Mapping[str, str] | None = None,
               status: int = 200) -> ResponseReturnValue:
        page = render_template(
            "rating/tablet.html", case=rated, levels=RATINGS, problem=problem,
            indicators=[(key, INDICATOR_NAMES[key]) for key in INDICATORS],
            form=form or {}, max_comment=MAX_COMMENT)
        return page, status

    def refused(exc: DomainError) -> ResponseReturnValue:
        title = refusal_title(exc.http_status, "rate")
        return render_template("rating/base.html", problem=f"{title}: {exc.reason}",
                               back=True), exc.http_status

    @bp.get("/<uuid:case_id>")
    @require_user(*ROLES)
    def tablet(case_id: uuid.UUID) -> ResponseReturnValue:
        """The rating form, or why this case cannot be rated here now."""
        ctx = get_ctx()
        rated, actor = _case(ctx, get_session(), case_id)
        problem = _refusal(ctx, rated, actor)
        return refused(problem) if problem is not None else render(rated)

    @bp.post("/<uuid:case_id>")
    @require_user(*ROLES)
    def submit(case_id: uuid.UUID) -> ResponseReturnValue:
        """Record the rating (one per case), then the thank-you screen (303)."""
        ctx = get_ctx()
        session = get_session()
        rated, actor = _case(ctx, session, case_id)
        if rated.state.rating is not None:  # a second submit: the case is not shown again
            return refused(StateConflict("rating", t("rate.already")))
        form = {k: v[:MAX_COMMENT * 2] for k, v in request.form.items()}
        try:
            act_request = _form_request(form)
        except ValidationError as exc:
            message = "; ".join(f"{k}: {v}" for k, v in flatten_messages(exc.messages).items())
            return render(rated, problem=message, form=form, status=400)
        now = ctx.clock()
        try:
            case_work.act(session, ctx.site, ctx.catalogue(), ctx.calendar(), actor, case_id,
                          act_request, now, versions=ctx.versions,
                          warning_share=ctx.warning_share)
            ctx.store.refresh(session, case_id, now)
            session.commit()
        except DomainError as exc:
            session.rollback()
            if exc.http_status == 400:
                detail = exc.fields or {exc.field: exc.reason}
                message = "; ".join(f"{k}: {v}" for k, v in detail.items())
                return render(rated, problem=message, form=form, status=400)
            if exc.field == "rating":  # rated meanwhile, on another tablet
                exc = StateConflict("rating", t("rate.already"))
            return refused(exc)
        except BaseException:
            session.rollback()
            raise
        return redirect(url_for(".thanks"), 303)

    @bp.get("/thanks")
    @require_user(*ROLES)
    def thanks() -> ResponseReturnValue:
        """Thanks, and no case: the next citizen sees nothing of the previous one."""
        return render_template("rating/thanks.html")

    return bp
