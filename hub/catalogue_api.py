"""``GET /api/v1/catalog/items`` and the health endpoint."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from hub.app import services
from shared.catalogue import catalogue_api_dict

bp = Blueprint("catalogue_api", __name__, url_prefix="/api/v1")
health_bp = Blueprint("health", __name__)


@bp.get("/catalog/items")
def items() -> Response:
    """The catalogue in force, in the contract's shape (``?lang=en`` for English names)."""
    lang = "en" if request.args.get("lang") == "en" else "zh"
    return jsonify(catalogue_api_dict(services().catalogue, lang))


@health_bp.get("/healthz")
def healthz() -> Response:
    settings = services().settings
    return jsonify({"status": "ok", "site": settings.site_code, "tier": "city"})
