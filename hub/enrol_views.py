"""``POST /api/v1/enrol`` at the hub: a node's one-time code and fresh public key in (CBOR),
the hub-signed grant out (certificate, pinned hub key, releases, the site's users)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from hub.db_session import get_session
from hub.releases import releases_to_send
from hub.services import services
from hub.sites import enrol
from shared.exchange.enrolment import MAX_REQUEST_BYTES
from shared.web.error_responses import error_response
from sync_protocol import ProtocolError

bp = Blueprint("hub_enrol", __name__, url_prefix="/api/v1")


@bp.post("/enrol")
def enrol_view() -> Response:
    body = request.get_data(cache=False)
    if len(body) > MAX_REQUEST_BYTES:
        return error_response(413, "too_large", f"larger than {MAX_REQUEST_BYTES} bytes")
    hub = services()
    session = get_session()
    now = hub.clock()
    try:
        data = enrol(session, hub.key, body, releases=releases_to_send(session, now), now=now)
        session.commit()
    except ProtocolError as exc:
        session.rollback()
        return error_response(403 if exc.code == "certificate_invalid" else 400, exc.code,
                              f"{exc.field}: {exc.reason}")
    except BaseException:
        session.rollback()
        raise
    return Response(data, mimetype="application/cbor")
