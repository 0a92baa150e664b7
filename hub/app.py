"""The hub's Flask app factory: ``create_app(settings)``.

The hub's collaborators live in :class:`HubServices` on ``app.extensions`` so views and CLI
commands reach them without module globals. Blueprints per area: the public service guide
(HTML), the catalogue API, health, login and tokens, enrolment, the exchange with the
children, and the window API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from hub import db_session, i18n
from hub.identity import hub_key, token_secret
from hub.ingest import HUB_TIER, HubWindowStore, hub_hooks
from hub.releases import current_catalogue_release, published_years, releases_to_send
from hub.settings import HubSettings
from shared import api_errors
from shared.accounts import TokenSigner
from shared.auth_api import auth_blueprint
from shared.blob_store import BlobStore
from shared.blob_views import blob_blueprint
from shared.catalogue import Catalogue
from shared.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.exchange import SyncSite
from shared.exchange_views import exchange_blueprint
from shared.openapi import openapi_blueprint
from shared.release_content import catalogue_from_release
from shared.sync_store import PlainPayloads
from shared.window_api import WindowContext, window_blueprint
from shared.working_days import WorkingDayCalendar, YearCalendar
from sync_protocol import SiteKey

MAX_REQUEST_BYTES = 60 * 1024 * 1024
CATALOGUE_RECHECK_SECONDS = 5.0
_EXTENSION = "sanji_hub"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HubServices:
    """The hub's collaborators, built once per app."""

    settings: HubSettings
    configured_catalogue: Catalogue
    clock: Callable[[], datetime] = utc_now
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue release in force (re-read at most every few seconds, so every hub
        process follows ``sanji hub import-catalog`` and the admin page without a restart);
        the configured catalogue until one is published."""
        published = self.extra.get("published_catalogue")
        checked = self.extra.get("catalogue_checked_at")
        now = time.monotonic()
        loader = self.extra.get("catalogue_loader")
        if callable(loader) and (not isinstance(checked, float)
                                 or now - checked > CATALOGUE_RECHECK_SECONDS):
            self.extra["catalogue_checked_at"] = now
            fresh = loader(published)
            if fresh is not None:
                self.extra["published_catalogue"] = published = fresh
        if isinstance(published, Catalogue):
            return published
        return self.configured_catalogue

    @cached_property
    def key(self) -> SiteKey:
        return hub_key(self.settings.key_dir, self.settings.site_code)

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(token_secret(self.settings.key_dir))

    @cached_property
    def calendar(self) -> WorkingDayCalendar:
        """The shipped years and every year the hub has published."""
        years = self.extra.get("published_years")
        return WorkingDayCalendar.standard(releases=years if isinstance(years, list) else ())

    @cached_property
    def sync_site(self) -> SyncSite:
        return SyncSite(
            key=self.key,
            hub_site=self.settings.site_code,
            hub_public_raw=self.key.public_raw,
            sealer=PlainPayloads(),
            root=True,
            releases=releases_to_send,
            hooks=hub_hooks(lambda: self.sync_site, lambda: self.catalogue),
        )

    @cached_property
    def windows(self) -> WindowContext:
        return WindowContext(
            site=self.sync_site,
            tier=HUB_TIER,
            catalogue=lambda: self.catalogue,
            calendar=lambda: self.calendar,
            store=HubWindowStore(lambda: self.sync_site),
            clock=lambda: self.clock(),
        )


def services() -> HubServices:
    """The current app's :class:`HubServices`."""
    found: HubServices = current_app.extensions[_EXTENSION]
    return found


def _catalogue_for(settings: HubSettings) -> Catalogue:
    if settings.catalogue_file:
        return load_catalogue(Path(settings.catalogue_file))
    return load_sample_catalogue()


def _catalogue_loader(app: Flask, hub: HubServices) -> Any:
    """Reads the catalogue release in force when its version differs from ``held``'s."""

    def load(held: object) -> Catalogue | None:
        try:
            with db_session.app_session(app) as session:
                release = current_catalogue_release(session, hub.clock())
        except SQLAlchemyError:
            return None  # no schema yet (``sanji hub init`` makes it), or a database hiccup
        if release is None:
            return None
        if isinstance(held, Catalogue) and held.version == release.version:
            return held
        return catalogue_from_release(release.content)

    return load


def _published_years(app: Flask) -> list[YearCalendar]:
    try:
        with db_session.app_session(app) as session:
            return published_years(session)
    except SQLAlchemyError:
        return []  # no schema yet: the shipped years


def create_app(settings: HubSettings) -> Flask:
    """Build the hub app for ``settings``; the database must have been migrated
    (``sanji hub init``)."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        TESTING=settings.testing,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    hub = HubServices(settings=settings, configured_catalogue=_catalogue_for(settings))
    app.extensions[_EXTENSION] = hub
    # Every hub process signs session cookies with the same secret, so a login survives a
    # restart and works against any process behind the load balancer.
    app.config["SECRET_KEY"] = token_secret(settings.key_dir).hex()
    db_session.init_app(app, settings.database_url, pool_pre_ping=True)
    hub.extra["catalogue_loader"] = _catalogue_loader(app, hub)
    hub.extra["published_years"] = _published_years(app)
    api_errors.init_app(app)
    i18n.init_app(app)

    from hub import (
        admin_views,
        catalogue_api,
        enrol_views,
        front_desk,
        guide_views,
        window_views,
    )

    app.register_blueprint(guide_views.bp)
    app.register_blueprint(catalogue_api.bp)
    app.register_blueprint(catalogue_api.health_bp)
    app.register_blueprint(enrol_views.bp)
    app.register_blueprint(front_desk.bp)
    app.register_blueprint(auth_blueprint(db_session.get_session, lambda: services().signer,
                                          lambda: services().clock()))
    app.register_blueprint(exchange_blueprint(db_session.get_session,
                                              lambda: services().sync_site,
                                              lambda: services().clock()))
    app.register_blueprint(blob_blueprint(db_session.get_session, lambda: services().sync_site,
                                          BlobStore(settings.data_dir / "blobs")))
    app.register_blueprint(window_blueprint(db_session.get_session,
                                            lambda: services().windows))
    app.register_blueprint(window_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(openapi_blueprint(f"Sanji hub {settings.site_code}"))
    app.jinja_env.globals.update(site=settings)
    return app
