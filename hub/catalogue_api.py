"""``GET /api/v1/catalog/items``, the health endpoint and the Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from hub.db_session import get_session
from hub.models import HubCase, HubSite
from hub.releases import releases_to_send
from hub.services import services
from shared.domain.catalogue import catalogue_api_dict
from shared.exchange.release_watch import metrics_lines, passed_down_watch
from shared.storage.sync_store import SyncEvent

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


@health_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text: open cases per window, sites enrolled, events held."""
    site = services().settings.site_code
    session = get_session()
    open_cases = session.execute(
        select(HubCase.window, func.count()).where(HubCase.open == 1)
        .group_by(HubCase.window).order_by(HubCase.window)
    ).all()
    enrolled = session.scalar(select(func.count()).select_from(HubSite)
                              .where(HubSite.enrolled_ms.is_not(None))) or 0
    events = session.scalar(select(func.count()).select_from(SyncEvent)) or 0
    now = services().clock()
    lines = [
        "# HELP sanji_hub_cases_open Open cases by window.",
        "# TYPE sanji_hub_cases_open gauge",
        *(f'sanji_hub_cases_open{{site="{site}",window="{w}"}} {n}' for w, n in open_cases),
        "# HELP sanji_hub_sites_enrolled Sites of the tree enrolled (the hub included).",
        "# TYPE sanji_hub_sites_enrolled gauge",
        f'sanji_hub_sites_enrolled{{site="{site}"}} {enrolled}',
        "# HELP sanji_hub_events Events held.",
        "# TYPE sanji_hub_events gauge",
        f'sanji_hub_events{{site="{site}"}} {events}',
        # when the releases the hub passes down expire (then every node holding one is frozen)
        *metrics_lines(passed_down_watch(releases_to_send(session, now), now), "sanji_hub",
                       site, refusals=False),
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
