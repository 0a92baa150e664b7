"""The node's Flask app factory: ``create_app(settings)``.

One app per process. This module only assembles it: the collaborators are
:class:`node.services.NodeServices` (on ``app.extensions``), and every blueprint is
registered here, explicitly — intake, cases and public status (HTML), the sync page, the JSON
API under ``/api/v1``, enrolment, the exchange with children and its scans, sign-in, and at a
deciding tier the window API and pages.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Flask

from node import (
    access_rules,
    api_views,
    auth,
    case_views,
    consultation_desk,
    consultation_intake,
    db_session,
    enrol_views,
    i18n,
    intake_views,
    local_sync,
    one_form_views,
    sync_indicator,
)
from node.certificates import NodeCertificateSite
from node.document_check import NodeDocumentSite
from node.hall_station import NodeStationBookings, refresh_copy
from node.models import NodeWindowCase
from node.relay_site import NodeRelaySite
from node.services import init_app as init_services
from node.services import services, services_of
from node.settings import NodeSettings
from node.status_lookup import NodeStatusSite
from node.sync_runner import AFTER_SYNC
from node.sync_setup import DECIDING_TIERS
from shared.storage.accounts import TOKEN_SECRET_FILE, load_or_create_secret
from shared.storage.sealing import DataKeys
from shared.web import access_policy, error_responses, request_limits, security_policy
from shared.web.adaptor_views import adaptor_blueprint
from shared.web.certificate_lookup import certificate_blueprint
from shared.web.document_check import document_check_blueprint
from shared.web.exchange_endpoint import exchange_blueprint
from shared.web.finance_views import finance_blueprint
from shared.web.hall_station_bookings import station_bookings_blueprint
from shared.web.openapi import openapi_blueprint
from shared.web.public_status import status_blueprint
from shared.web.rating_pages import rating_pages_blueprint
from shared.web.rating_views import rating_views_blueprint
from shared.web.scans_endpoint import blob_blueprint
from shared.web.sign_in import auth_blueprint
from shared.web.supervision_views import supervision_blueprint
from shared.web.window_api import window_blueprint
from shared.web.window_pages import window_views_blueprint


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; callers pass only codes and ids, never personal data."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


def create_app(settings: NodeSettings, opened_keys: DataKeys | None = None) -> Flask:
    """Build the node app for ``settings``; the database must have been migrated
    (``sanji node init``). ``opened_keys``: the data keys a tool beside the node opened from
    an agent's key slot (``sync-now``)."""
    app = Flask(__name__)
    app.config.update(
        TESTING=settings.testing,
        JSON_AS_ASCII=False,
    )
    request_limits.trust_proxies(app, settings.trusted_proxies)
    request_limits.limit_bodies(app)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
    db_session.init_app(app, settings.database_url)
    init_services(app, settings, opened_keys)
    i18n.init_app(app)
    error_responses.init_app(app)
    security_policy.install(app, site_code=settings.site_code, clock=lambda: services().clock(),
                            timeouts=security_policy.SessionTimeouts(
                                settings.session_idle_seconds, settings.session_max_seconds))

    auth.init_app(app)
    sync_indicator.init_app(app)

    app.register_blueprint(intake_views.bp)
    app.register_blueprint(one_form_views.bp)
    app.register_blueprint(case_views.bp)
    app.register_blueprint(status_blueprint(lambda: NodeStatusSite(services()),
                                            db_session.get_session))
    app.register_blueprint(certificate_blueprint(lambda: NodeCertificateSite(services()),
                                                 db_session.get_session))
    app.register_blueprint(station_bookings_blueprint(lambda: NodeStationBookings(services()),
                                                      db_session.get_session))
    app.extensions[AFTER_SYNC] = [refresh_copy]
    app.register_blueprint(document_check_blueprint(lambda: NodeDocumentSite(services()),
                                                    db_session.get_session,
                                                    base_url=settings.public_base_url))
    app.register_blueprint(api_views.bp)
    app.register_blueprint(consultation_intake.bp)
    app.register_blueprint(consultation_desk.blueprint(
        answering=str(settings.tier.value) in DECIDING_TIERS))
    app.register_blueprint(api_views.health_bp)
    app.register_blueprint(adaptor_blueprint(lambda: services().catalogue))
    app.register_blueprint(enrol_views.bp)
    app.register_blueprint(local_sync.blueprint(settings))
    app.register_blueprint(
        exchange_blueprint(db_session.get_session, lambda: services().sync_site,
                           lambda: services().clock(),
                           events_from_below=lambda: services().nudge_sync())
    )
    app.register_blueprint(
        blob_blueprint(db_session.get_session, lambda: services().sync_site,
                       services_of(app).blobs, views=str(settings.tier.value) in DECIDING_TIERS,
                       scan_site=lambda: NodeRelaySite(services()))
    )
    app.config["SECRET_KEY"] = load_or_create_secret(settings.key_dir / TOKEN_SECRET_FILE).hex()
    app.register_blueprint(
        auth_blueprint(db_session.get_session, lambda: services().signer,
                       lambda: services().clock(),
                       after_sign_in=lambda user, password: services().data_key.signed_in(
                           user, password))
    )
    if str(settings.tier.value) in DECIDING_TIERS:
        app.register_blueprint(
            window_blueprint(db_session.get_session, lambda: services().windows,
                             case_view=False)
        )
        app.register_blueprint(
            window_views_blueprint(db_session.get_session, lambda: services().windows)
        )
        app.register_blueprint(
            supervision_blueprint(db_session.get_session, lambda: services().windows,
                                  NodeWindowCase)
        )
        app.register_blueprint(
            rating_pages_blueprint(db_session.get_session, lambda: services().windows)
        )
        app.register_blueprint(
            rating_views_blueprint(db_session.get_session, lambda: services().windows,
                                   NodeWindowCase)
        )
        app.register_blueprint(
            finance_blueprint(db_session.get_session, lambda: services().windows,
                              NodeWindowCase)
        )
    app.register_blueprint(openapi_blueprint(f"Sanji node {settings.site_code}"))
    # after node.auth's sign-in check: this adds the roles and refuses what is not listed
    access_policy.install(app, access_rules.POLICY, lambda: settings.site_code,
                          lambda: services().settings.require_sign_in
                          and services().sync_site.parent is not None)
    app.jinja_env.globals.update(site=settings)
    return app
