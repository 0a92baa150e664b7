"""The public status page (阳光审批): a citizen types the acceptance number and query code.

The same rules as ``GET /api/v1/public/status``: nothing personal is shown, a wrong pair
says only that it is wrong, and an address with too many wrong pairs must wait.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from node.case_summary import public_status
from node.db_session import get_session
from node.i18n import locale_name, t
from node.intake import find_by_acceptance_no, query_code_matches
from node.services import services

bp = Blueprint("public", __name__)


@bp.get("/status")
def status_page() -> tuple[str, int]:
    node = services()
    acceptance_no = request.args.get("acceptance_no", "").strip()[:40]
    query_code = request.args.get("query_code", "").strip()[:20]
    context: dict[str, Any] = {"acceptance_no": acceptance_no, "result": None, "message": ""}
    if not (acceptance_no and query_code):
        return render_template("status.html", **context), 200
    address = request.remote_addr or "unknown"
    if node.limiter.blocked(address, node.monotonic()):
        context["message"] = t("status_too_many")
        return render_template("status.html", **context), 429
    session = get_session()
    case = find_by_acceptance_no(session, acceptance_no)
    if case is None or not query_code_matches(case, query_code):
        node.limiter.record_failure(address, node.monotonic())
        context["message"] = t("status_not_found")
        return render_template("status.html", **context), 404
    context["result"] = public_status(
        session, case, node.catalogue, node.sealer, lang=locale_name(), now=node.clock()
    )
    return render_template("status.html", **context), 200
