"""The city hall's own front desk.

``POST /api/v1/cases``: a walk-in applicant registered by a front-desk agent through the same
checks as at a village (:mod:`shared.domain.application`), with an ``Idempotency-Key`` so a double
submit makes one case. The ``registered`` event is the hub's own; the hub's sync hooks then
route it like any case that arrived from below (received, routed to the authorised window).

The ``Idempotency-Key`` record keeps the first answer (with the query code) to give it again
on a repeat; it is sealed with the hub's data key like an event payload, bound to its key.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from hub.db_session import get_session
from hub.services import services
from shared.deciding import case_work
from shared.domain.application import (
    DELIVERIES,
    acceptance_number,
    check_application,
    new_query_code,
    query_verifier,
    request_digest,
)
from shared.domain.errors import Problems, StateConflict
from shared.domain.working_days import local_date
from shared.storage import sync_store
from shared.storage.case_ids import reserve_case_id
from shared.web.error_responses import error_response, flatten_messages
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

bp = Blueprint("hub_front_desk", __name__, url_prefix="/api/v1")
STATUS_FIELDS = ("acceptance_no", "query_code")


class CaseBodySchema(Schema):
    class Meta:
        unknown = RAISE

    item_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    applicant = fields.Dict(required=True)
    form = fields.Dict(load_default=dict)
    delivery = fields.String(load_default="window", validate=validate.OneOf(DELIVERIES))


_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,100}")


@bp.post("/cases")
@require_user("agent", "admin")
def register_walk_in() -> tuple[Response, int]:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not _IDEMPOTENCY_KEY.fullmatch(key):  # as at a node: no NUL, no invisible characters
        return error_response(400, "invalid", "the Idempotency-Key header is required",
                              {"Idempotency-Key": "1-100 printable ASCII characters"}), 400
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        return error_response(400, "invalid", "expected a JSON object",
                              {"body": "must be a JSON object (Content-Type: application/json)"}
                              ), 400
    try:
        body = CaseBodySchema().load(raw)
    except ValidationError as exc:
        return error_response(400, "invalid", "invalid application",
                              flatten_messages(exc.messages)), 400
    hub = services()
    session = get_session()
    now = hub.clock()
    digest = request_digest(body)
    record_key = f"idem:{g.claims.username}:{key}"
    held = sync_store.read_state(session, record_key)
    if held is not None:
        first = hub.payload_sealer.open(held, record_key)
        if first["digest"] != digest:
            raise StateConflict("Idempotency-Key",
                                "this key was already used for a different application")
        return jsonify(first["result"]), 200
    checked, problems = check_application(hub.catalogue, body["item_code"], body["applicant"],
                                          body["form"], body["delivery"], now)
    if checked is None:
        raise Problems(problems, "the application is not complete or not valid")
    site = hub.sync_site
    case_id = reserve_case_id(session, site.code, site.epoch)
    day = local_date(now).strftime("%Y%m%d")
    number = acceptance_number(site.code, now, site.epoch,
                               sync_store.next_counter(session, f"acceptance:{site.code}:{day}"))
    query_code = new_query_code()
    payload = {
        "acceptance_no": number,
        "query_verifier": query_verifier(case_id, query_code),
        "item_code": checked.item.code, "catalogue_version": hub.catalogue.version,
        "kind": checked.item.kind.value, "window": checked.item.window,
        "delivery": body["delivery"], "applicant": checked.applicant.to_dict(),
        "form": checked.form, "materials": [],
    }
    try:
        row = sync_store.author_event(
            session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
            actor=f"agent:{g.claims.username}", type="registered", payload=payload,
            at_ms=to_ms(now), up=False, now_ms=to_ms(now))
        site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
        state = case_work.case_state(session, site, case_id)
        result = {"case_id": str(case_id), "acceptance_no": number, "query_code": query_code,
                  "state": state.state.value}
        # sealed like a payload: the record holds the query code, answered again on a repeat
        sync_store.write_state(session, record_key, hub.payload_sealer.seal(
            {"digest": digest, "result": result}, record_key))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return jsonify(result), 201
