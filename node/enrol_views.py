"""``POST /api/v1/enrol`` at a township or county node: relay a child's enrolment upward.

Enrolment needs the hub (only it issues certificates), so a node forwards the request bytes
to its own parent unchanged and returns the answer unchanged; the grant is signed by the hub,
so a relay can read it but not alter it. A node without a parent answers 404.
"""

from __future__ import annotations

import requests
from flask import Blueprint, Response, request

from node.services import services
from shared.exchange.enrolment import MAX_REQUEST_BYTES, relay
from shared.exchange.transport import frame_session
from shared.web.error_responses import error_response
from sync_protocol import ProtocolError

bp = Blueprint("enrol", __name__, url_prefix="/api/v1")


@bp.post("/enrol")
def enrol_relay() -> Response:
    settings = services().settings
    parent_url = settings.parent_url
    if not parent_url:
        return error_response(404, "not_found", "this site has no parent to enrol with")
    body = request.get_data(cache=False)
    if len(body) > MAX_REQUEST_BYTES:
        return error_response(413, "too_large", f"larger than {MAX_REQUEST_BYTES} bytes")
    try:
        with frame_session(settings.parent_tls_verify) as http:
            status, answer, content_type = relay(parent_url, body, http=http)
    except ProtocolError as exc:
        return error_response(400, exc.code, str(exc))
    except requests.RequestException:
        response = error_response(503, "unavailable", "the parent cannot be reached; retry")
        response.headers["Retry-After"] = "30"
        return response
    return Response(answer, status=status, content_type=content_type)
