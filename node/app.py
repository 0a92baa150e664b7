"""The node's Flask app factory: ``create_app(settings)``.

One app per process; its collaborators (catalogue, data sealer, blob store, ID-card reader,
lookup limiter, clock) live in :class:`NodeServices` on ``app.extensions`` so that views and
CLI commands get them without module globals. Blueprints per area: intake (HTML), cases
(HTML), public status (HTML), and the JSON API under ``/api/v1``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from flask import Flask, current_app
from sqlalchemy.orm import Session

from node import db_session, i18n
from node.calendar_store import HeldCalendar
from node.case_log import current_epoch
from node.catalogue_store import HeldCatalogue
from node.id_reader import DEMO_CARD, IdCardReader, NoReader, SimulatedReader
from node.intake import IntakeContext
from node.materials import BlobStore
from node.models import NodeWindowCase
from node.sealing import DataSealer, load_sealer
from node.settings import NodeSettings
from node.sync_setup import DECIDING_TIERS, node_sync_site
from shared import api_errors
from shared.accounts import TOKEN_SECRET_FILE, TokenSigner, load_or_create_secret
from shared.auth_api import auth_blueprint
from shared.blob_views import blob_blueprint
from shared.case_projection import ProjectionStore
from shared.catalogue import Catalogue
from shared.exchange import SyncSite
from shared.exchange_views import exchange_blueprint
from shared.openapi import openapi_blueprint
from shared.pdf_fonts import PdfFonts, find_fonts
from shared.rate_limit import FailureLimiter
from shared.window_api import WindowContext, window_blueprint
from shared.window_views import window_views_blueprint

MAX_REQUEST_BYTES = 60 * 1024 * 1024
_EXTENSION = "sanji_node"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class NodeServices:
    """The node's collaborators, built once per app."""

    settings: NodeSettings
    held_catalogue: HeldCatalogue
    sealer: DataSealer
    blobs: BlobStore
    reader: IdCardReader
    limiter: FailureLimiter
    build_sync_site: Callable[[], SyncSite]
    session_factory: Callable[[], Session]
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def sync_site(self) -> SyncSite:
        """This node in the tree (built on first use: it reads the store's epoch)."""
        return self.build_sync_site()

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue intake offers now (the newest release held)."""
        return self.held_catalogue.current()

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(load_or_create_secret(self.settings.key_dir / TOKEN_SECRET_FILE))

    @cached_property
    def held_calendar(self) -> HeldCalendar:
        """Shipped years plus the calendar releases that came down from the hub."""
        return HeldCalendar(self.session_factory)

    @cached_property
    def windows(self) -> WindowContext:
        return WindowContext(
            site=self.sync_site,
            tier=str(self.settings.tier.value),
            catalogue=lambda: self.catalogue,
            calendar=self.held_calendar.current,
            store=ProjectionStore(NodeWindowCase, lambda: self.sync_site),
            clock=lambda: self.clock(),
        )

    @cached_property
    def fonts(self) -> PdfFonts:
        return find_fonts()

    def nudge_sync(self) -> None:
        """Bring the next exchange with the parent forward (a new case is waiting)."""
        job = self.extra.get("sync_job")
        nudge = getattr(job, "nudge", None)
        if callable(nudge):
            nudge()

    def intake_context(self) -> IntakeContext:
        return IntakeContext(self.settings.site_code, self.catalogue, self.sealer,
                             self.sync_site)


def services_of(app: Flask) -> NodeServices:
    found: NodeServices = app.extensions[_EXTENSION]
    return found


def services() -> NodeServices:
    """The current app's :class:`NodeServices`."""
    found: NodeServices = current_app.extensions[_EXTENSION]
    return found


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


def create_app(settings: NodeSettings) -> Flask:
    """Build the node app for ``settings``; the database must have been migrated
    (``sanji node init``)."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        TESTING=settings.testing,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
    reader: IdCardReader = (
        SimulatedReader(default=DEMO_CARD) if settings.id_reader == "simulated" else NoReader()
    )
    db_session.init_app(app, settings.database_url)
    sealer = load_sealer(settings.key_dir)

    def build_sync_site() -> SyncSite:
        with db_session.app_session(app) as session:
            epoch = current_epoch(session)
        return node_sync_site(settings, sealer, epoch, lambda: services_of(app).catalogue,
                              catalogue_arrived)

    def catalogue_arrived(content: bytes) -> None:
        services_of(app).held_catalogue.replace(content)

    app.extensions[_EXTENSION] = NodeServices(
        settings=settings,
        build_sync_site=build_sync_site,
        session_factory=db_session.session_factory(app),
        held_catalogue=HeldCatalogue(settings.data_dir),
        sealer=sealer,
        blobs=BlobStore(settings.blob_dir),
        reader=reader,
        limiter=FailureLimiter(settings.status_max_failures, settings.status_window_seconds),
    )
    i18n.init_app(app)
    api_errors.init_app(app)

    from node import (
        api_views,
        auth,
        case_views,
        enrol_views,
        intake_views,
        public_views,
        sync_indicator,
    )

    auth.init_app(app)
    sync_indicator.init_app(app)

    app.register_blueprint(intake_views.bp)
    app.register_blueprint(case_views.bp)
    app.register_blueprint(public_views.bp)
    app.register_blueprint(api_views.bp)
    app.register_blueprint(api_views.health_bp)
    app.register_blueprint(enrol_views.bp)
    app.register_blueprint(
        exchange_blueprint(db_session.get_session, lambda: services().sync_site,
                           lambda: services().clock())
    )
    app.register_blueprint(
        blob_blueprint(db_session.get_session, lambda: services().sync_site,
                       services_of(app).blobs, views=str(settings.tier.value) in DECIDING_TIERS)
    )
    app.config["SECRET_KEY"] = load_or_create_secret(settings.key_dir / TOKEN_SECRET_FILE).hex()
    app.register_blueprint(
        auth_blueprint(db_session.get_session, lambda: services().signer,
                       lambda: services().clock())
    )
    if str(settings.tier.value) in DECIDING_TIERS:
        app.register_blueprint(
            window_blueprint(db_session.get_session, lambda: services().windows,
                             case_view=False)
        )
        app.register_blueprint(
            window_views_blueprint(db_session.get_session, lambda: services().windows)
        )
    app.register_blueprint(openapi_blueprint(f"Sanji node {settings.site_code}"))
    app.jinja_env.globals.update(site=settings)
    return app
