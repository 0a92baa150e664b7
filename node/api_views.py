"""The node's JSON API under ``/api/v1`` (the contract in ARCHITECTURE.md).

``POST /cases`` registers a case (``Idempotency-Key`` required), ``POST /cases/<id>/materials``
adds a scan, ``GET /cases/<id>`` shows a case, ``GET /catalog/items`` the held catalogue
(the public status lookup is :mod:`shared.web.public_status`).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func, select

from node.api_schemas import (
    CaseCreateSchema,
    CatalogueQuerySchema,
    IdempotencyHeaderSchema,
    MaterialUploadSchema,
    OneFormCreateSchema,
)
from node.auth import current_actor
from node.bundle_intake import OneFormRequest, one_form_part_ids, register_one_form
from node.case_actions import add_material
from node.case_summary import case_api_dict
from node.db_session import get_session
from node.deciding_jobs import runs_done
from node.intake import (
    IntakeRequest,
    find_case,
    register_case,
)
from node.materials import check_upload, material_of
from node.models import NodeCase
from node.services import services
from node.view_audit import audit_case_view
from shared.deciding.parent_cases import parent_api_dict, parent_status, parse_bundle_id
from shared.domain.catalogue import catalogue_api_dict, item_api_dict, search_items
from shared.domain.errors import InvalidInput, NotFound
from shared.exchange.release_watch import metrics_lines, node_release_watch
from shared.storage.sync_store import count_pending_up

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("body", "must be a JSON object (Content-Type: application/json)")
    return body


def _case_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("case_id", "no such case at this site")


@bp.post("/cases")
def create_case() -> tuple[Response, int]:
    """Register a case; 201 with its numbers, or 200 with the same case for a used key."""
    header = IdempotencyHeaderSchema().load(
        {"Idempotency-Key": request.headers.get("Idempotency-Key", "")}
    )
    body = CaseCreateSchema().load(_json_body())
    node = services()
    result = register_case(
        get_session(),
        node.intake_context(),
        IntakeRequest(
            item_code=body["item_code"],
            applicant=body["applicant"],
            form=body["form"],
            delivery=body["delivery"],
            reuse=body["reuse"],
            reuse_consent=body["reuse_consent"],
            handover_station=body["handover_station"] or None,
        ),
        idempotency_key=header["key"],
        actor=current_actor(),
        now=node.clock(),
    )
    node.nudge_sync()
    if result.created:
        node_log("case registered", case_id=str(result.case_id), item=body["item_code"])
    payload = {
        "case_id": str(result.case_id),
        "acceptance_no": result.acceptance_no,
        "query_code": result.query_code,
        "state": result.state,
    }
    return jsonify(payload), 201 if result.created else 200


@bp.post("/bundles")
def create_one_form() -> tuple[Response, int]:
    """Register a one-form application (一表制): one case per part, one transaction; 201
    with the parent's number, the shared query code and each part, or 200 for a used key."""
    header = IdempotencyHeaderSchema().load(
        {"Idempotency-Key": request.headers.get("Idempotency-Key", "")}
    )
    body = OneFormCreateSchema().load(_json_body())
    node = services()
    result = register_one_form(
        get_session(), node.intake_context(),
        OneFormRequest(composite=body["composite"], applicant=body["applicant"],
                       form=body["form"], delivery=body["delivery"]),
        idempotency_key=header["key"], actor=current_actor(), now=node.clock())
    node.nudge_sync()
    if result.created:
        node_log("one-form application registered", bundle_id=str(result.bundle_id),
                 composite=body["composite"])
    return jsonify(result.as_dict()), 201 if result.created else 200


@bp.get("/bundles/<bundle_id>")
def show_one_form(bundle_id: str) -> Response:
    """The parent of a one-form application as this node holds its parts."""
    session = get_session()
    wanted = parse_bundle_id(bundle_id)
    ref, status = parent_status(session, services().sync_site, wanted,
                                one_form_part_ids(session, wanted))
    return jsonify(parent_api_dict(ref, status))


@bp.post("/cases/<case_id>/materials")
def upload_material(case_id: str) -> tuple[Response, int]:
    """Add one scan (multipart: ``material_code`` and ``file``) to a case."""
    session = get_session()
    node = services()
    case = find_case(session, _case_id(case_id))
    form = MaterialUploadSchema().load(request.form.to_dict())
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("file", "required: send the scan as multipart field 'file'")
    item = node.catalogue.item(case.item_code)
    checked = check_upload(material_of(item, form["material_code"]), upload.stream)
    node.blobs.put(checked.data)
    added = add_material(
        session, case, checked, site=node.sync_site, actor=current_actor(), now=node.clock()
    )
    body = {
        "case_id": str(case.case_id),
        "material_code": added.material_code,
        "sha256": added.sha256,
        "size": added.size,
        "media_type": added.media_type,
    }
    return jsonify(body), 201 if added.created else 200


@bp.get("/cases/<case_id>")
def show_case(case_id: str) -> Response:
    session = get_session()
    case = find_case(session, _case_id(case_id))
    audit_case_view(case.case_id)
    return jsonify(case_api_dict(session, case, services().sealer))


@bp.get("/catalog/items")
def catalogue_items() -> Response:
    query = CatalogueQuerySchema().load(request.args.to_dict())
    catalogue = services().catalogue
    if not query["q"]:
        return jsonify(catalogue_api_dict(catalogue, query["lang"]))
    items = [item_api_dict(i, query["lang"]) for i in search_items(catalogue, query["q"])]
    return jsonify({"version": catalogue.version, "items": items})


def node_log(message: str, **fields: str) -> None:
    """A structured log line with the site code; callers pass ids and codes only."""
    from flask import current_app

    node = services()
    current_app.logger.info(message, extra={"fields": {"site": node.settings.site_code, **fields}})


health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> Response:
    get_session().execute(select(1))
    return jsonify({"status": "ok", "site": services().settings.site_code})


@health_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text: cases held, events still owed to the parent, the runs of a deciding
    node's jobs, and the releases (frozen, refused: :mod:`shared.exchange.release_watch`)."""
    session = get_session()
    cases = session.scalar(select(func.count()).select_from(NodeCase)) or 0
    pending = count_pending_up(session)
    site = services().settings.site_code
    text = (
        "# HELP sanji_node_cases Cases held by this node.\n"
        "# TYPE sanji_node_cases gauge\n"
        f'sanji_node_cases{{site="{site}"}} {cases}\n'
        "# HELP sanji_node_outbox_pending Events not yet acknowledged by the parent.\n"
        "# TYPE sanji_node_outbox_pending gauge\n"
        f'sanji_node_outbox_pending{{site="{site}"}} {pending}\n'
        "# HELP sanji_node_deciding_runs_total Runs of the deadline timers and the "
        "supervision scan since the process started.\n"
        "# TYPE sanji_node_deciding_runs_total counter\n"
        f'sanji_node_deciding_runs_total{{site="{site}"}} {runs_done(current_app)}\n'
    )
    # a frozen release (expired, no newer one came) and releases refused as rolled back
    watch = node_release_watch(session, services().clock())
    text += "\n".join(metrics_lines(watch, "sanji_node", site)) + "\n"
    return Response(text, mimetype="text/plain; version=0.0.4")
