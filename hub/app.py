"""The hub's Flask app factory: ``create_app(settings)``.

This module only assembles the app: its collaborators are :class:`hub.services.HubServices`
(on ``app.extensions``), and every blueprint is registered here, explicitly — the public
service guide and calendar (HTML), the catalogue API and health, the front desk, the public
status lookup (page and API), login and
tokens, enrolment, the exchange with the children and its scans, the window API and pages,
administration and the OpenAPI document.
"""

from __future__ import annotations

from flask import Flask

from hub import (
    access_rules,
    admin,
    calendar_views,
    catalogue_api,
    consultation_views,
    db_session,
    desk_views,
    enrol_views,
    front_desk,
    guide_views,
    hall_api,
    hall_views,
    i18n,
    online_hall_views,
    privacy_views,
    window_views,
)
from hub.certificate_views import HubCertificateSite
from hub.document_check import HubDocumentSite
from hub.hall_site import hall_board
from hub.hall_station import HubStationBookings
from hub.identity import token_secret
from hub.models import HubCase
from hub.online_rating import HubRatingSite
from hub.public_status import HubStatusSite
from hub.relay_site import HubRelaySite
from hub.services import init_app as init_services
from hub.services import services
from hub.settings import HubSettings
from shared.web import access_policy, error_responses, request_limits, security_policy
from shared.web.adaptor_views import adaptor_blueprint
from shared.web.certificate_lookup import certificate_blueprint
from shared.web.document_check import document_check_blueprint
from shared.web.exchange_endpoint import exchange_blueprint
from shared.web.finance_views import finance_blueprint
from shared.web.hall_station_bookings import station_bookings_blueprint
from shared.web.online_rating import online_rating_blueprint
from shared.web.openapi import openapi_blueprint
from shared.web.public_status import status_blueprint
from shared.web.rating_pages import rating_pages_blueprint
from shared.web.rating_views import rating_views_blueprint
from shared.web.scans_endpoint import blob_blueprint
from shared.web.sign_in import auth_blueprint
from shared.web.supervision_views import supervision_blueprint
from shared.web.window_api import window_blueprint


def create_app(settings: HubSettings) -> Flask:
    """Build the hub app for ``settings``; the database must have been migrated
    (``sanji hub init``)."""
    app = Flask(__name__)
    app.config.update(
        TESTING=settings.testing,
    )
    request_limits.trust_proxies(app, settings.trusted_proxies)
    request_limits.limit_bodies(app)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Every hub process signs session cookies with the same secret, so a login survives a
    # restart and works against any process behind the load balancer.
    app.config["SECRET_KEY"] = token_secret(settings.key_dir).hex()
    db_session.init_app(app, settings.database_url, pool_pre_ping=True)
    hub = init_services(app, settings)
    error_responses.init_app(app)
    i18n.init_app(app)
    security_policy.install(app, site_code=settings.site_code, clock=lambda: services().clock(),
                            timeouts=security_policy.SessionTimeouts(
                                settings.session_idle_seconds, settings.session_max_seconds))

    app.register_blueprint(guide_views.bp)
    app.register_blueprint(calendar_views.bp)
    app.register_blueprint(catalogue_api.bp)
    app.register_blueprint(catalogue_api.health_bp)
    app.register_blueprint(adaptor_blueprint(lambda: services().catalogue))
    app.register_blueprint(enrol_views.bp)
    app.register_blueprint(front_desk.bp)
    app.register_blueprint(desk_views.bp)
    app.register_blueprint(consultation_views.bp)
    app.register_blueprint(online_hall_views.bp)
    app.register_blueprint(status_blueprint(lambda: HubStatusSite(services()),
                                            db_session.get_session))
    app.register_blueprint(certificate_blueprint(lambda: HubCertificateSite(services()),
                                                 db_session.get_session))
    app.register_blueprint(document_check_blueprint(lambda: HubDocumentSite(services()),
                                                    db_session.get_session,
                                                    base_url=settings.public_base_url))
    app.register_blueprint(online_rating_blueprint(lambda: HubRatingSite(services()),
                                                   db_session.get_session))
    app.register_blueprint(auth_blueprint(db_session.get_session, lambda: services().signer,
                                          lambda: services().clock()))
    app.register_blueprint(exchange_blueprint(db_session.get_session,
                                              lambda: services().sync_site,
                                              lambda: services().clock()))
    app.register_blueprint(blob_blueprint(db_session.get_session, lambda: services().sync_site,
                                          hub.blobs,
                                          scan_site=lambda: HubRelaySite(services())))
    app.register_blueprint(window_blueprint(db_session.get_session,
                                            lambda: services().windows))
    app.register_blueprint(window_views.bp)
    app.register_blueprint(supervision_blueprint(db_session.get_session,
                                                 lambda: services().windows, HubCase,
                                                 hall_board=hall_board))
    app.register_blueprint(hall_views.bp)
    app.register_blueprint(hall_api.bp)
    app.register_blueprint(station_bookings_blueprint(lambda: HubStationBookings(services()),
                                                      db_session.get_session))
    app.register_blueprint(rating_pages_blueprint(db_session.get_session,
                                                  lambda: services().windows))
    app.register_blueprint(rating_views_blueprint(db_session.get_session,
                                                  lambda: services().windows, HubCase))
    app.register_blueprint(finance_blueprint(db_session.get_session,
                                             lambda: services().windows, HubCase))
    app.register_blueprint(admin.bp)
    app.register_blueprint(privacy_views.bp)
    app.register_blueprint(openapi_blueprint(f"Sanji hub {settings.site_code}"))
    access_policy.install(app, access_rules.POLICY, lambda: settings.site_code)
    app.jinja_env.globals.update(site=settings)
    return app
