"""``POST /api/v1/admin/access-requests``: an admin answers an applicant's access request
(PIPL art. 45). The ID number travels in the JSON body only — never in the address, so it
stays out of access logs and browser history — and the answer is never cached."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from hub import db_session
from hub.privacy.access_request import answer_access_request
from hub.privacy.retention_policy import load_policy
from hub.services import services
from shared.domain.errors import InvalidInput
from shared.domain.identity import validate_id_number
from shared.web.sign_in import require_user

bp = Blueprint("privacy", __name__)


class AccessRequestSchema(Schema):
    """The body: the applicant's resident ID number (checked, check character included)."""

    class Meta:
        unknown = RAISE

    id_number = fields.String(required=True, validate=validate.Length(min=15, max=20))

    @validates("id_number")
    def _valid(self, value: str, **_: object) -> None:
        try:
            validate_id_number(value, services().clock().date())
        except InvalidInput as exc:
            raise ValidationError(exc.reason or "not a valid resident ID number") from None


@bp.post("/api/v1/admin/access-requests")
@require_user("admin")
def access_request() -> ResponseReturnValue:
    """Every record the hub holds for the ID number in the body; the request is logged."""
    body = AccessRequestSchema().load(request.get_json(silent=True) or {})
    hub = services()
    number = validate_id_number(body["id_number"], hub.clock().date())
    session = db_session.get_session()
    report = answer_access_request(
        session, hub.settings.site_code, hub.payload_sealer, hub.data_keys,
        load_policy(hub.settings.data_dir), number, asked_by=g.claims.username,
        channel="api", now=hub.clock())
    session.commit()
    response = jsonify(report)
    response.headers["Cache-Control"] = "no-store"
    return response
