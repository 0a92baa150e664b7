"""``GET /api/openapi.json``: the HTTP API of a site, as OpenAPI 3.1.

The paths are read from the app's own URL map, so the document lists exactly what this site
serves (a village node has no window endpoints, the hub has no sync status); the shapes of
the public contract (ARCHITECTURE.md) are written here once, as JSON Schema, for both the
hub and the nodes. An endpoint without a written shape still appears, described as
returning JSON, so the document never hides a route.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from werkzeug.wrappers import Response

from shared.web.consultation_contract import CONSULTATION_CONTRACT
from shared.web.hall_contract import HALL_CONTRACT
from shared.web.online_contract import ONLINE_CONTRACT

JSON = dict[str, Any]


def _obj(needed: list[str], **props: JSON) -> JSON:
    return {"type": "object", "required": needed, "properties": props}


STR: JSON = {"type": "string"}
NSTR: JSON = {"type": ["string", "null"]}
INT: JSON = {"type": "integer"}
BOOL: JSON = {"type": "boolean"}
STR_LIST: JSON = {"type": "array", "items": STR}

ERROR = _obj(
    ["error"],
    error=_obj(
        ["code", "message", "fields"],
        code=STR,
        message=STR,
        fields={"type": "object", "additionalProperties": STR},
    ),
)
EVENT = _obj(
    ["origin", "epoch", "seq", "type", "actor", "at"],
    origin=STR,
    epoch=INT,
    seq=INT,
    type=STR,
    actor=STR,
    at=STR,
)
CASE = _obj(
    [
        "case_id",
        "acceptance_no",
        "item_code",
        "kind",
        "state",
        "site",
        "window",
        "deadline",
        "events",
    ],
    case_id=STR,
    acceptance_no=STR,
    item_code=STR,
    kind=STR,
    state=STR,
    site=STR,
    window=NSTR,
    deadline=NSTR,
    events={"type": "array", "items": EVENT},
    hub_receipt={"description": "at a node, for a case it registered: the hub's signed "
                 "receipt that first covered the registration (its proof of arrival), null "
                 "until it has come down",
                 "anyOf": [{"type": "null"}, _obj(
                     ["origin", "epoch", "through_seq", "at", "key_id", "signature"],
                     origin=STR, epoch=INT, through_seq=INT, at=STR, key_id=STR,
                     signature=STR)]},
)
APPLICANT = _obj(["name", "id_number", "phone"], name=STR, id_number=STR, phone=STR)
NEW_CASE = _obj(
    ["item_code", "applicant", "form", "delivery"],
    item_code=STR,
    applicant=APPLICANT,
    form={"type": "object"},
    delivery={"enum": ["village", "window", "courier"]},
    reuse={"description": "materials taken from the certificate store by reference "
                          "instead of a scan (证照库; needs reuse_consent)",
           "type": "array", "items": _obj(["material_code", "ref"], material_code=STR,
                                           ref=STR)},
    reuse_consent={"type": "boolean"},
)
CREATED = _obj(
    ["case_id", "acceptance_no", "query_code", "state"],
    case_id=STR,
    acceptance_no=STR,
    query_code=STR,
    state=STR,
)
ITEM = _obj(
    [
        "code",
        "name",
        "tier",
        "window",
        "authority",
        "kind",
        "promised_days",
        "legal_days",
        "materials",
        "form",
    ],
    code=STR,
    name=STR,
    tier=STR,
    window=STR,
    authority={"enum": ["decision", "review_report", "preliminary"]},
    kind=STR,
    promised_days=INT,
    legal_days=INT,
    materials={
        "type": "array",
        "items": _obj(["code", "name", "required"], code=STR, name=STR, required=BOOL),
    },
    form=_obj(
        ["fields"],
        fields={
            "type": "array",
            "items": _obj(
                ["key", "label", "type", "required", "choices"],
                key=STR,
                label=STR,
                type=STR,
                required=BOOL,
                choices={"type": "array"},
            ),
        },
    ),
)
ACTION = _obj(
    ["action"],
    action={
        "enum": [
            "claim",
            "accept",
            "request_supplement",
            "approve",
            "check",
            "reject",
            "report_up",
            "co_approve",
            "object",
            "transfer",
            "issue_result",
            "hand_over",
            "rate",
            "pay",
            "void_receipt",
            "refund",
            "answer_rectification",
            "record_callback",
        ]
    },
    rating={"enum": ["very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
                     "very_dissatisfied"]},
    indicators={"description": "rate: scores 1-5 of efficiency, attitude, service_level",
                "type": "object", "additionalProperties": INT},
    comment=STR,
    reason=STR,
    missing=STR_LIST,
    method={"enum": ["in_person", "proxy", "courier"]},
    receiver_name=STR,
    carrier={"description": "hand_over by courier: ems, sf, jd, zto, yto, sto or yunda",
             "type": "string"},
    tracking_no=STR,
    address=STR,
    fees={"description": "accept: fees waived or reduced where the catalogue allows it "
                         "(减免), each with its reason",
          "type": "array",
          "items": _obj(["code", "amount_fen", "reason"], code=STR, amount_fen=INT,
                        reason=STR)},
    receipt_no={"description": "pay, void_receipt: a number of a receipt book registered to "
                               "the finance clerk's window, used once", "type": "string"},
    amount_fen={"description": "pay, refund: whole fen", "type": "integer", "minimum": 1},
    approver={"description": "refund: the approving department head or supervisor",
              "type": "string"},
    callback={"enum": ["satisfied", "not_satisfied", "unreachable"]},
)

# (rule, method) -> (summary, request body schema or None, success status, response schema)
CONTRACT: dict[tuple[str, str], tuple[str, JSON | None, int, JSON]] = {
    ("/api/v1/auth/token", "post"): (
        "Exchange a username, password and (for supervisors and admins) a one-time password "
        "for a bearer token",
        _obj(["username", "password"], username=STR, password=STR, otp=STR),
        200,
        _obj(
            ["access_token", "token_type", "expires_in"],
            access_token=STR,
            token_type={"const": "Bearer"},
            expires_in=INT,
        ),
    ),
    ("/api/v1/auth/revoke", "post"): (
        "Sign out everywhere: every token and sign-in of the caller's account at this site "
        "ends (204, no body)",
        None,
        204,
        {"type": "object"},
    ),
    ("/api/v1/cases", "post"): (
        "Register a case (header Idempotency-Key: the same key again answers 200 with the "
        "same case)",
        NEW_CASE,
        201,
        CREATED,
    ),
    ("/api/v1/bundles", "post"): (
        "Register a one-form application (一表制): one case per part of the composite, one "
        "parent number and one query code (header Idempotency-Key as for /cases)",
        _obj(["composite", "applicant"], composite=STR, applicant={"type": "object"},
             form={"type": "object"}, delivery=STR),
        201,
        _obj(["bundle_id", "acceptance_no", "query_code", "cases"], bundle_id=STR,
             acceptance_no=STR, query_code=STR,
             cases={"type": "array", "items": _obj(["case_id", "acceptance_no", "state"],
                                                   case_id=STR, acceptance_no=STR, state=STR)}),
    ),
    ("/api/v1/bundles/<bundle_id>", "get"): (
        "The parent of a one-form application and its parts as this site holds them; "
        "complete when every part is closed",
        None,
        200,
        _obj(["bundle_id", "acceptance_no", "composite", "state", "parts_expected",
              "parts_closed", "approved", "refused", "parts"],
             bundle_id=STR, acceptance_no=STR, composite=STR, state=STR,
             parts_expected=INT, parts_closed=INT, approved=INT, refused=INT,
             parts={"type": "array", "items": {"type": "object"}}),
    ),
    ("/api/v1/cases/<case_id>", "get"): (
        "A case and its event history (a case of another window answers 404, as an unknown "
        "id)", None, 200, CASE),
    ("/api/v1/cases/<case_id>/materials", "post"): (
        "Add one scanned material (multipart: material_code, file)",
        None,
        201,
        {"type": "object"},
    ),
    ("/api/v1/cases/<case_id>/actions", "post"): (
        "Act on a case at its window (approve is the reviewer's, check the second person's)",
        ACTION,
        200,
        CASE,
    ),
    ("/api/v1/catalog/items", "get"): (
        "The service items of the catalogue in force",
        None,
        200,
        _obj(["version", "items"], version=INT, items={"type": "array", "items": ITEM}),
    ),
    ("/api/v1/catalog/adaptors", "get"): (
        "The smart adaptor's families (智能适配): each with its questions and choices and the "
        "procedures its decision table chooses among (?lang=en for English texts)",
        None,
        200,
        _obj(["version", "adaptors"], version=INT, adaptors={"type": "array", "items": _obj(
            ["code", "name", "keywords", "situations", "questions", "procedures"],
            code=STR, name=STR, keywords=STR_LIST, situations=INT,
            questions={"type": "array", "items": _obj(
                ["key", "label", "choices"], key=STR, label=STR,
                choices={"type": "array", "items": _obj(["value", "label"], value=STR,
                                                        label=STR)})},
            procedures={"type": "array", "items": _obj(["item_code", "item_name"],
                                                       item_code=STR, item_name=STR)})}),
    ),
    ("/api/v1/catalog/adaptors/<code>/resolve", "post"): (
        "The one procedure a family's answers choose, and why (400 names each missing or "
        "unknown answer as answers.<key>; 404 for an unknown family)",
        _obj(["answers"], answers={"type": "object", "additionalProperties": STR}),
        200,
        _obj(["adaptor", "item_code", "item_name", "reason", "answers"], adaptor=STR,
             item_code=STR, item_name=STR, reason=STR,
             answers={"type": "array", "items": _obj(
                 ["key", "value", "question", "answer"], key=STR, value=STR, question=STR,
                 answer=STR)}),
    ),
    ("/api/v1/windows/<code>/cases", "get"): (
        "A window's queue, nearest deadline first",
        None,
        200,
        _obj(
            ["cases"],
            cases={
                "type": "array",
                "items": _obj(
                    ["case_id", "acceptance_no", "item_code", "state", "deadline"],
                    case_id=STR,
                    acceptance_no=STR,
                    item_code=STR,
                    state=STR,
                    deadline=NSTR,
                ),
            },
        ),
    ),
    ("/api/v1/windows/<code>/reassign", "post"): (
        "A supervisor moves every case of the window an absent operator holds to another "
        "operator of the window, one reassigned event each (all or none)",
        _obj(["from", "to"], **{"from": STR, "to": STR, "reason": STR}),
        200,
        _obj(
            ["window", "from", "to", "moved", "remaining"],
            window=STR,
            moved={"type": "array",
                   "items": _obj(["case_id", "acceptance_no"], case_id=STR,
                                 acceptance_no=STR)},
            remaining=INT,
            **{"from": STR, "to": STR},
        ),
    ),
    ("/api/v1/certificates/held", "post"): (
        "The materials of an item the holder of an ID number already has in the certificate "
        "store (证照库), valid today, each with the reference a registration names (agents "
        "and admins, or a child site vouching for its agent; relayed up to the hub; 503 "
        "when the store cannot be asked)",
        _obj(["id_number", "item_code"], id_number=STR, item_code=STR),
        200,
        _obj(["item_code", "held", "answered_by", "as_of"], item_code=STR,
             answered_by=STR, as_of=STR,
             held={"type": "array", "items": _obj(
                 ["material_code", "name", "ref", "source", "valid_until", "recorded_at"],
                 material_code=STR, name=STR, ref=STR,
                 source={"enum": ["received", "issued"]}, valid_until=NSTR,
                 recorded_at=STR)}),
    ),
    ("/api/v1/scans/<sha256>", "get"): (
        "A scan (the file's bytes) for a child site's window user, vouched for by the child "
        "in X-Sanji-Relay over the scan and ?case=; only when the case goes down toward "
        "that child, 404 otherwise; relayed up while not held; 503 when the parent cannot "
        "be asked",
        None,
        200,
        {"type": "string", "format": "binary"},
    ),
    ("/api/v1/public/status", "get"): (
        "A citizen's status lookup by acceptance number and query code (no login; a wrong "
        "pair is 404, too many tries 429)",
        None,
        200,
        _obj(
            [
                "acceptance_no",
                "item_name",
                "state",
                "stage",
                "deadline",
                "missing",
                "outcome",
                "as_of",
            ],
            acceptance_no=STR,
            item_name=STR,
            state=STR,
            stage=STR,
            deadline=NSTR,
            missing=STR_LIST,
            outcome=NSTR,
            as_of=STR,
            missing_names=STR_LIST,
            courier={"description": "when the result was sent by courier (快递送达)",
                     "anyOf": [{"type": "null"}, _obj(["carrier", "tracking_no", "at"],
                                                     carrier=STR, tracking_no=STR, at=STR)]},
        ),
    ),
    ("/api/v1/supervision/signals", "get"): (
        "Warnings, yellow and red cards and urges raised on the site's cases, newest first "
        "(?kind=, ?window=, ?limit=; supervisors and admins)",
        None,
        200,
        _obj(["signals"], signals={"type": "array", "items": _obj(
            ["case_id", "acceptance_no", "window", "kind", "reason", "at"],
            case_id=STR, acceptance_no=STR, window=STR,
            kind={"type": "string", "enum": ["warning", "yellow_card", "red_card", "urge"]},
            rule=STR, reason=STR, at=STR)}),
    ),
    ("/api/v1/reports/<period>", "get"): (
        "The figures of the day, week, month or year holding ?date=YYYY-MM-DD, per window "
        "(&format=csv for CSV; supervisors and admins)",
        None,
        200,
        _obj(["period", "from", "to", "rows"], period=STR, site=STR,
             rows={"type": "array", "items": _obj(
                 ["window", "received", "completed", "on_time", "overdue",
                  "satisfaction_rate"],
                 window=STR, received=INT, completed=INT, on_time=INT, early=INT,
                 overdue=INT, average_days={"type": ["number", "null"]},
                 satisfaction_rate={"type": ["number", "null"]}, warnings=INT,
                 yellow_cards=INT, red_cards=INT, urges=INT)},
             total={"type": "object"}, **{"from": STR, "to": STR}),
    ),
    ("/api/v1/sync/status", "get"): (
        "The link to the parent",
        None,
        200,
        _obj(
            ["parent_reachable", "pending_up", "pending_down", "last_success", "last_error"],
            parent_reachable={"type": ["boolean", "null"]},  # null before the first try
            pending_up=INT,
            pending_down=INT,
            last_success=NSTR,
            last_error=NSTR,
        ),
    ),
}

CONTRACT.update(HALL_CONTRACT)
CONTRACT.update(CONSULTATION_CONTRACT)
CONTRACT.update(ONLINE_CONTRACT)


def _openapi_path(rule: str) -> str:
    return rule.replace("<", "{").replace(">", "}").replace("{uuid:", "{").replace("{int:", "{")


def _parameters(rule: str) -> list[JSON]:
    names = [part[1:-1].split(":")[-1] for part in rule.split("/") if part.startswith("<")]
    return [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]


def build_document(app: Flask, title: str) -> JSON:
    """The OpenAPI document of ``app``'s ``/api`` routes."""
    paths: dict[str, JSON] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            key = (rule.rule, method.lower())
            summary, body, status, answer = CONTRACT.get(
                key, (rule.endpoint, None, 200, {"type": "object"})
            )
            operation: JSON = {
                "summary": summary,
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "parameters": _parameters(rule.rule),
                "responses": {
                    str(status): {
                        "description": "success",
                        "content": {"application/json": {"schema": answer}},
                    },
                    "default": {
                        "description": "error",
                        "content": {"application/json": {"schema": ERROR}},
                    },
                },
            }
            if body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
            paths.setdefault(_openapi_path(rule.rule), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


def openapi_blueprint(title: str) -> Blueprint:
    """A blueprint serving ``/api/openapi.json`` for the app it is registered on."""
    bp = Blueprint("openapi", __name__)

    @bp.get("/api/openapi.json")
    def document() -> Response:
        return jsonify(build_document(current_app._get_current_object(), title))  # type: ignore[attr-defined]

    return bp
