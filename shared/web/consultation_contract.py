"""The API shapes of consultations and complaints (咨询投诉) for the OpenAPI document
(:mod:`shared.web.openapi` merges them into its contract): recording at the hub and at every
node, the list, one consultation and its answer (at the hub and at a township or county), the
hub's public online form."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
STR: JSON = {"type": "string"}
NSTR: JSON = {"type": ["string", "null"]}


def _obj(needed: list[str], **props: JSON) -> JSON:
    return {"type": "object", "required": needed, "properties": props}


_FIELDS: JSON = dict(kind={"enum": ["consultation", "complaint"]}, name=STR, phone=STR,
                     text=STR, acceptance_no=NSTR, item_code=NSTR, department=NSTR)
RECORD = _obj(["channel", "kind", "name", "phone", "text"],
              channel={"enum": ["phone", "window", "online"]}, **_FIELDS)
ONLINE = _obj(["kind", "name", "phone", "text"], **_FIELDS)
RECORDED = _obj(["id", "department", "due"], id=STR, case_id=NSTR, department=STR, due=STR)
SUMMARY = _obj(["id", "kind", "channel", "department", "recorded_at", "due", "status"],
               id=STR, kind=STR, channel=STR, department=STR, origin=STR, case_id=NSTR,
               acceptance_no=NSTR, item_code=NSTR, recorded_at=STR, due=STR,
               answered_at=NSTR, answered_by=NSTR, status={"enum": ["open", "answered"]})
DETAILS = {**SUMMARY, "properties": {**SUMMARY["properties"], "text": NSTR, "name": NSTR,
                                     "phone": NSTR, "answer": NSTR}}

CONSULTATION_CONTRACT: dict[tuple[str, str], tuple[str, JSON | None, int, JSON]] = {
    ("/api/v1/consultations", "post"): (
        "Record a consultation or complaint (咨询投诉): at the hub by a window, a department "
        "head or a supervisor on the 9618 line; at a node by its agent or staff, travelling "
        "up with the case or as a log of its own. The department is the item's when it "
        "concerns a case or an item, else the one given",
        RECORD, 201, RECORDED),
    ("/api/v1/consultations", "get"): (
        "The consultations and complaints a user may see (?status=open|answered), newest "
        "first: at the hub a supervisor every department's, a department's staff their own; "
        "at a node its agent those recorded there, and at a township or county a "
        "department's staff there those of their department the site answers",
        None, 200, _obj(["consultations"], consultations={"type": "array", "items": SUMMARY})),
    ("/api/v1/consultations/{consultation_id}", "get"): (
        "One consultation with its words and answer (404 for another department's staff)",
        None, 200, DETAILS),
    ("/api/v1/consultations/{consultation_id}/answer", "post"): (
        "The assigned department's answer, at the hub or at a township's or county's own "
        "site (its window operators or head there; 404 for anyone else, 409 once the site "
        "holds an answer)",
        _obj(["answer"], answer=STR), 200, SUMMARY),
    ("/api/v1/public/consultations", "post"): (
        "The public online form (no login; limited per client address, 429 past it)",
        ONLINE, 201, _obj(["id", "department", "due"], id=STR, department=STR, due=STR)),
}
