"""The window API every deciding site serves (the hub, and township and county nodes):

- ``GET /api/v1/windows/<code>/cases``: the window's open queue, by deadline, with the
  working days left;
- ``POST /api/v1/cases/<id>/actions``: one action of the window workflow;
- ``POST /api/v1/windows/<code>/reassign``: a supervisor moves every case of the window an
  absent operator holds to a colleague (:mod:`shared.deciding.bulk_reassign`);
- ``GET /api/v1/windows/<code>/cases`` and the case body share :func:`case_body`.

Who may do what is :func:`shared.domain.window_workflow.perform`'s to say; this module turns the
signed-in user's token into an :class:`~shared.domain.case_events.Actor`, validates the body with
marshmallow and answers in the contract's shapes. The projection a queue reads is the site's
own (``hub_cases`` at the hub): :class:`WindowStore` hides which.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from shared.deciding import bulk_reassign, case_work
from shared.deciding.window_context import WindowContext
from shared.domain.case_events import (
    CALLBACK_OUTCOMES,
    CARD_RULINGS,
    MAX_EXTENSION_DAYS,
    SIGNAL_KINDS,
    SIGNAL_RULES,
    SPECIAL_PROCEDURES,
    Actor,
    Role,
)
from shared.domain.case_state import ACTIONS
from shared.domain.catalogue import Catalogue
from shared.domain.delivery import CARRIERS, HANDOVER_METHODS
from shared.domain.errors import NotFound, NotPermitted
from shared.domain.fees import MAX_FEN
from shared.domain.rating import RATINGS
from shared.domain.window_workflow import ActionRequest
from shared.exchange.site import SyncSite
from shared.storage.accounts import Claims
from shared.web.error_responses import error_response, flatten_messages
from shared.web.record_scope import DEPARTMENT_HEAD, case_in_reach, window_department
from shared.web.sign_in import require_user
from sync_protocol.times import from_ms

QUEUE_LIMIT = 200
WINDOW_BOUND_ROLES = frozenset({"window_operator", "finance"})
"""Roles that work one window, and see only that window's cases."""


class ReductionSchema(Schema):
    """One fee the window waives or reduces at acceptance (减免), where the catalogue lets it."""

    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    amount_fen = fields.Integer(required=True, strict=True,
                                validate=validate.Range(min=0, max=MAX_FEN))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CardSchema(Schema):
    """A card's key: the ``signalled`` event's origin, epoch and seq."""

    class Meta:
        unknown = RAISE

    origin = fields.String(required=True, validate=validate.Length(min=6, max=15))
    epoch = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ActionSchema(Schema):
    """The body of ``POST /api/v1/cases/<id>/actions``."""

    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(sorted(ACTIONS)))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))
    missing = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                          load_default=list, validate=validate.Length(max=50))
    provided = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                           load_default=list, validate=validate.Length(max=50))
    to_window = fields.String(load_default=None, validate=validate.Length(max=40))
    to_site = fields.String(load_default=None, validate=validate.Length(max=15))
    authority = fields.String(load_default=None, validate=validate.Length(max=80))
    outcome = fields.String(load_default=None, validate=validate.OneOf(["approved", "rejected"]))
    reference = fields.String(load_default=None, validate=validate.Length(max=80))
    department = fields.String(load_default=None, validate=validate.Length(max=40))
    assignee = fields.String(load_default=None, validate=validate.Length(max=64))
    document = fields.String(load_default=None, validate=validate.Length(max=200))
    signal_kind = fields.String(data_key="kind", load_default=None,
                                validate=validate.OneOf(SIGNAL_KINDS))
    rule = fields.String(load_default=None, validate=validate.OneOf(SIGNAL_RULES))
    card = fields.Nested(CardSchema, load_default=None)
    ruling = fields.String(load_default=None, validate=validate.OneOf(CARD_RULINGS))
    procedure = fields.String(load_default=None, validate=validate.OneOf(SPECIAL_PROCEDURES))
    days = fields.Integer(load_default=None,
                          validate=validate.Range(min=0, max=MAX_EXTENSION_DAYS))
    approved = fields.Boolean(load_default=None)
    rating = fields.String(load_default=None, validate=validate.OneOf(RATINGS))
    indicators = fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                             values=fields.Integer(strict=True), load_default=dict,
                             validate=validate.Length(max=10))
    comment = fields.String(load_default="", validate=validate.Length(max=500))
    method = fields.String(load_default=None, validate=validate.OneOf(HANDOVER_METHODS))
    receiver_name = fields.String(load_default="", validate=validate.Length(max=100))
    carrier = fields.String(load_default=None, validate=validate.OneOf(sorted(CARRIERS)))
    tracking_no = fields.String(load_default=None, validate=validate.Length(max=30))
    address = fields.String(load_default=None, validate=validate.Length(max=120))
    callback = fields.String(load_default=None, validate=validate.OneOf(CALLBACK_OUTCOMES))
    receipt_no = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    amount_fen = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(min=1, max=MAX_FEN))
    approver = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    reductions = fields.List(fields.Nested(ReductionSchema), data_key="fees",
                             load_default=list, validate=validate.Length(max=20))


class BulkReassignSchema(Schema):
    """The body of ``POST /api/v1/windows/<code>/reassign`` (and the queue page's form):
    ``{"from", "to", "reason"}``."""

    class Meta:
        unknown = RAISE

    from_operator = fields.String(data_key="from", required=True,
                                  validate=validate.Length(min=1, max=64))
    to_operator = fields.String(data_key="to", required=True,
                                validate=validate.Length(min=1, max=64))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class QueueQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=QUEUE_LIMIT,
                           validate=validate.Range(min=1, max=QUEUE_LIMIT))


def _load_json(schema: Schema, what: str) -> dict[str, Any] | Response:
    """The request's JSON object as ``schema`` loads it, or the error answer (400) naming
    every field that is wrong."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "invalid", "expected a JSON object")
    try:
        data: dict[str, Any] = schema.load(body)
    except ValidationError as exc:
        return error_response(400, "invalid", f"invalid {what}", flatten_messages(exc.messages))
    return data



def check_window(claims: Claims, window: str | None, catalogue: Catalogue) -> None:
    """An operator (or finance clerk) works one window: other windows' cases are not theirs
    to read, applicants' personal data included; a department head reads the windows of
    their department."""
    if claims.role in WINDOW_BOUND_ROLES and claims.window != window:
        raise NotPermitted("window", f"you work at window {claims.window}, not {window}")
    if claims.role == DEPARTMENT_HEAD and window_department(catalogue, window) != (
            claims.department or ""):
        raise NotPermitted("window", f"window {window} is not of department "
                           f"{claims.department}")



def actor_of(claims: Claims, site: SyncSite, tier: str, catalogue: Catalogue) -> Actor:
    """The signed-in user as the workflow sees them (their site must be this one)."""
    if claims.site != site.code:
        raise NotPermitted("site", f"{claims.username} works at {claims.site}, not here")
    department = claims.department
    if department is None:  # an operator's is their window's
        department = window_department(catalogue, claims.window)
    return Actor(claims.username, Role(claims.role), site.code, tier, claims.window, department)


def case_body(ctx: WindowContext, session: Session, case_id: uuid.UUID) -> dict[str, Any]:
    """The contract's case shape, from the site's events."""
    events = case_work.case_events(session, ctx.site, case_id)
    if not events:
        raise NotFound("case_id", "no such case at this site")
    state = case_work.case_state(session, ctx.site, case_id)
    first = events[0].payload
    deadline = None
    for event in events:
        if isinstance(event.payload.get("deadline"), str):
            deadline = event.payload["deadline"]
    return {
        "case_id": str(case_id),
        "acceptance_no": first.get("acceptance_no"),
        "item_code": state.item_code,
        "kind": state.kind.value if state.kind else None,
        "state": state.state.value,
        "stage": state.stage,
        "site": state.origin_site,
        "window": state.window,
        "deadline": deadline,
        "claimed_by": state.claimed_by,
        "missing": list(state.missing),
        "outcome": state.outcome.value if state.outcome else None,
        "events": [
            {"origin": e.origin, "epoch": e.epoch, "seq": e.seq, "type": e.type.value,
             "actor": e.actor.to_wire(), "at": e.at.isoformat()}
            for e in events
        ],
    }


def window_blueprint(get_session: Callable[[], Session],
                     get_ctx: Callable[[], WindowContext], *,
                     case_view: bool = True) -> Blueprint:
    """The window API; ``case_view=False`` where the site already serves
    ``GET /api/v1/cases/<id>`` (a node, whose case body adds the agent's view)."""
    bp = Blueprint("window_api", __name__, url_prefix="/api/v1")

    @bp.get("/windows/<code>/cases")
    @require_user("window_operator", "finance", "supervisor", "admin", DEPARTMENT_HEAD)
    def queue(code: str) -> Response:
        ctx = get_ctx()
        claims: Claims = g.claims
        actor_of(claims, ctx.site, ctx.tier, ctx.catalogue())  # a user of this site only
        check_window(claims, code, get_ctx().catalogue())
        try:
            args = QueueQuerySchema().load(request.args)
        except ValidationError as exc:
            return error_response(400, "invalid", "invalid query",
                                  flatten_messages(exc.messages))
        now = ctx.clock()
        calendar = ctx.calendar()
        entries = ctx.store.queue(get_session(), code, int(args["limit"]),
                                  window_department(ctx.catalogue(), code))
        cases = []
        for e in entries:
            due = from_ms(e.due_ms) if e.due_ms is not None else None
            left = calendar.remaining_working_days(due, now) if due is not None else None
            cases.append({
                "case_id": str(e.case_id), "acceptance_no": e.acceptance_no,
                "item_code": e.item_code, "state": e.state, "stage": e.stage,
                "claimed_by": e.claimed_by,
                "deadline": due.isoformat() if due is not None else None,
                "working_days_left": left, "co_approval": e.co_approval,
            })
        return jsonify({"window": code, "cases": cases})

    @bp.post("/windows/<code>/reassign")
    @require_user()
    def reassign(code: str) -> Response:
        """``{"from", "to", "reason"}`` -> ``{"window", "from", "to", "moved": [{"case_id",
        "acceptance_no"}], "remaining"}``; every case moved, or none."""
        ctx = get_ctx()
        session = get_session()
        actor = actor_of(g.claims, ctx.site, ctx.tier, ctx.catalogue())
        data = _load_json(BulkReassignSchema(), "reassignment")
        if isinstance(data, Response):
            return data
        try:
            done = bulk_reassign.reassign_all(session, ctx, actor, code, data["from_operator"],
                                              data["to_operator"], data["reason"], ctx.clock())
            session.commit()
        except BaseException:
            session.rollback()
            raise
        moved = [{"case_id": str(e.case_id), "acceptance_no": e.acceptance_no}
                 for e in done.moved]
        return jsonify({"window": code, "from": done.from_operator, "to": done.to_operator,
                        "moved": moved, "remaining": done.remaining})

    def show(case_id: uuid.UUID) -> Response:
        body = case_body(get_ctx(), get_session(), case_id)
        case_in_reach(g.claims, body["window"], catalogue=get_ctx().catalogue())
        return jsonify(body)

    if case_view:
        bp.add_url_rule("/cases/<uuid:case_id>", view_func=require_user()(show),
                        methods=["GET"])

    @bp.post("/cases/<uuid:case_id>/actions")
    @require_user()
    def action(case_id: uuid.UUID) -> Response:
        ctx = get_ctx()
        session = get_session()
        data = _load_json(ActionSchema(), "action")
        if isinstance(data, Response):
            return data
        actor = actor_of(g.claims, ctx.site, ctx.tier, ctx.catalogue())
        case = case_work.case_state(session, ctx.site, case_id)
        case_in_reach(g.claims, case.window, department=actor.department,
                      co_approvers=[d for d, _ in case.joint_answers],
                      catalogue=ctx.catalogue())
        fields_ = {k: v for k, v in data.items() if v is not None}
        fields_["missing"] = tuple(data["missing"])
        fields_["provided"] = tuple(data["provided"])
        fields_["reductions"] = {r["code"]: (r["amount_fen"], r["reason"])
                                 for r in data["reductions"]}
        act_request = ActionRequest(**fields_)
        now = ctx.clock()
        try:
            case_work.act(session, ctx.site, ctx.catalogue(), ctx.calendar(), actor, case_id,
                          act_request, now, versions=ctx.versions,
                          warning_share=ctx.warning_share, receipts=ctx.store.receipts)
            ctx.store.refresh(session, case_id, now)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return jsonify(case_body(ctx, session, case_id))

    return bp
