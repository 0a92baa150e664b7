"""The online service hall's API shapes for the OpenAPI document (:mod:`shared.web.openapi`
merges them into its contract): the two steps of an applicant's sign-up
(``hub/online_hall_views.py``; only the hub serves them)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
STR: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}


def _obj(needed: list[str], **props: JSON) -> JSON:
    return {"type": "object", "required": needed, "properties": props}


ONLINE_CONTRACT: dict[tuple[str, str], tuple[str, JSON | None, int, JSON]] = {
    ("/api/v1/online/codes", "post"): (
        "Text a one-time code to a mainland mobile number, for signing up or in at the "
        "online hall (no login; at most one a minute and five an hour per phone, twenty an "
        "hour per address: 429 with Retry-After past them)",
        _obj(["phone"], phone=STR),
        202,
        _obj(["sent", "expires_in"], sent={"type": "boolean"}, expires_in=INT),
    ),
    ("/api/v1/online/accounts", "post"): (
        "Sign up at the online hall: the applicant (a person, or a company by its unified "
        "social credit code and legal representative) and the code texted to their phone; "
        "each bad field named; 409 when the phone has an account. The answer's session "
        "cookie is signed in",
        _obj(["applicant", "code"], applicant={"type": "object"}, code=STR),
        201,
        _obj(["account_id", "kind"], account_id=INT, kind=STR),
    ),
}
