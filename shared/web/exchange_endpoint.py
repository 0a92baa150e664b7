"""HTTP for the exchange: ``POST /api/v1/sync/exchange`` (a child's frame in, the parent's
frame out) and ``GET /api/v1/sync/status`` for sites with a parent.

The body is the protocol's binary frame; errors the protocol can state travel as signed
refusal frames (with their HTTP status), and only what cannot be framed (no site key yet,
an unreadable frame) is answered in the JSON error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from shared.exchange.parent import answer_child
from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH, SyncSite
from shared.exchange.status import sync_status
from shared.web.error_responses import error_response
from sync_protocol.framing import MAX_FRAME


def exchange_blueprint(
    get_session: Callable[[], Session],
    get_site: Callable[[], SyncSite],
    clock: Callable[[], datetime],
    events_from_below: Callable[[], None] | None = None,
) -> Blueprint:
    """``events_from_below`` runs after an answer that stored new events from a child: a
    relay's sync job sends them on at once instead of at its next interval."""
    bp = Blueprint("sync_exchange", __name__)

    @bp.post(EXCHANGE_PATH)
    def exchange() -> Response:
        site = get_site()
        if not site.hub_public_raw:
            return error_response(503, "not_enrolled", "this site is not enrolled yet")
        length = request.content_length
        if length is not None and length > MAX_FRAME:
            return error_response(413, "too_large", f"a frame is at most {MAX_FRAME} bytes")
        data = request.get_data(cache=False)
        answer = answer_child(get_session(), site, data, clock())
        if answer.stored and events_from_below is not None:
            events_from_below()
        if answer.data[:1] == b"{":
            return Response(answer.data, status=answer.status, mimetype="application/json")
        return Response(answer.data, status=answer.status, mimetype=CONTENT_TYPE)

    @bp.get("/api/v1/sync/status")
    def status() -> Response:
        return jsonify(sync_status(get_session(), get_site()))

    return bp
