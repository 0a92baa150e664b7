"""The node's collaborators (:class:`NodeServices`): catalogue, data sealer, blob store,
ID-card reader, lookup limiter, clock and the sync job, one set per app on
``app.extensions``.

Views and the CLI reach them through :func:`services` (inside a request) or
:func:`services_of` (with the app in hand); :func:`init_app` builds them. Views import this
module, never :mod:`node.app`, so the app factory is the only module that knows every
blueprint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node import db_session
from node.calendar_store import HeldCalendar
from node.case_log import current_epoch
from node.catalogue_store import HeldCatalogue, prune_kept
from node.data_key import NodeDataKey
from node.id_reader import DEMO_CARD, IdCardReader, NoReader, SimulatedReader
from node.intake import IntakeContext
from node.materials import BlobStore
from node.models import NodeWindowCase
from node.sealing import DataSealer
from node.settings import NodeSettings
from node.sync_setup import node_sync_site
from node.window_store import NodeProjectionStore
from shared.deciding.window_context import WindowContext
from shared.domain.catalogue import Catalogue
from shared.domain.working_days import NO_OVERRIDES, CalendarOverrides
from shared.exchange.site import SyncSite
from shared.pdf.fonts import PdfFonts, find_fonts
from shared.storage.accounts import (
    TOKEN_SECRET_FILE,
    TokenSigner,
    load_or_create_secret,
    site_totp_sealer,
)
from shared.storage.calendar_overrides import load_overrides
from shared.storage.failure_counts import SqlFailureCounts
from shared.storage.sealing import DataKeys, ScanSealer, SealedRecords
from shared.storage.sync_store import seal_clear_records, use_record_sealer
from shared.storage.totp_secrets import use_totp_sealer
from shared.web.rate_limit import KEEP_SECONDS, FailureLimiter, install_failure_counts
from shared.web.request_db import engine_of

if TYPE_CHECKING:  # APScheduler loads only where `sanji node run` starts the job
    from node.sync_job import SyncJob

_EXTENSION = "sanji_node"


def utc_now() -> datetime:
    return datetime.now(UTC)


def offset_clock(seconds: float) -> Callable[[], datetime]:
    """A clock ``seconds`` off: a PC whose clock is wrong (the node's test-only setting)."""
    shift = timedelta(seconds=seconds)
    return lambda: datetime.now(UTC) + shift


@dataclass
class NodeServices:
    """The node's collaborators, built once per app."""

    settings: NodeSettings
    held_catalogue: HeldCatalogue
    data_key: NodeDataKey
    """Where the data key is (its holder feeds every sealer) and whether it is locked."""
    sealer: DataSealer
    blobs: BlobStore
    reader: IdCardReader
    limiter: FailureLimiter
    build_sync_site: Callable[[], SyncSite]
    session_factory: Callable[[], Session]
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sync_job: SyncJob | None = None
    """The background exchange with the parent, when ``sanji node run`` started one."""
    calendar_overrides: CalendarOverrides = NO_OVERRIDES
    """The site's own working days (``calendar_overrides.json``), read once at start."""

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
        return HeldCalendar(self.session_factory, self.calendar_overrides)

    @cached_property
    def windows(self) -> WindowContext:
        return WindowContext(
            site=self.sync_site,
            tier=str(self.settings.tier.value),
            catalogue=lambda: self.catalogue,
            calendar=self.held_calendar.current,
            store=NodeProjectionStore(NodeWindowCase, lambda: self.sync_site),
            clock=lambda: self.clock(),
            versions=self.held_catalogue,  # a case is decided by the release it names
            warning_share=self.settings.warning_share,
        )

    @cached_property
    def fonts(self) -> PdfFonts:
        return find_fonts()

    def nudge_sync(self) -> None:
        """Bring the next exchange with the parent forward (a new case is waiting)."""
        if self.sync_job is not None:
            self.sync_job.nudge()

    def intake_context(self) -> IntakeContext:
        return IntakeContext(self.settings.site_code, self.catalogue, self.sealer,
                             self.sync_site)


def services_of(app: Flask) -> NodeServices:
    found: NodeServices = app.extensions[_EXTENSION]
    return found


def services() -> NodeServices:
    """The current app's :class:`NodeServices` (inside a request or app context)."""
    return services_of(current_app)


def init_app(app: Flask, settings: NodeSettings,
             opened_keys: DataKeys | None = None) -> NodeServices:
    """Build the node's services for ``app`` (whose database session is set up already);
    ``opened_keys``: the data keys a tool opened from an agent's slot."""
    reader: IdCardReader = (
        SimulatedReader(default=DEMO_CARD) if settings.id_reader == "simulated" else NoReader()
    )
    # Every sealer reads the one holder: at a locked village it is filled at the first
    # sign-in of an agent with a key slot, and nothing seals or opens before.
    overrides = load_overrides(settings.data_dir, settings.site_code)  # a bad file: no start
    data_key = NodeDataKey(settings, db_session.session_factory(app), opened=opened_keys)
    sealer = DataSealer(data_key.holder)
    records = SealedRecords(data_key.holder)
    # the link's history, the downward streams and parked events carry events: sealed too
    use_record_sealer(engine_of(app), records)
    # a supervisor's or admin's one-time-code secret set up here (never sent from the hub)
    use_totp_sealer(engine_of(app), site_totp_sealer(settings.key_dir))
    # Failed logins are kept in the node's database (its clock is wall time, so they
    # survive a restart); the status lookup counts on a monotonic clock, in memory.
    install_failure_counts(app, SqlFailureCounts(db_session.session_factory(app), KEEP_SECONDS))

    def build_sync_site() -> SyncSite:
        with db_session.app_session(app) as session:
            epoch = current_epoch(session)
        return node_sync_site(settings, sealer, epoch, lambda: services_of(app).catalogue,
                              catalogue_arrived, services_of(app).held_catalogue,
                              calendar=lambda: services_of(app).held_calendar.current())

    def catalogue_arrived(content: bytes) -> None:
        held = services_of(app).held_catalogue
        held.replace(content)
        prune_kept(held, db_session.session_factory(app))

    node = NodeServices(
        settings=settings,
        build_sync_site=build_sync_site,
        session_factory=db_session.session_factory(app),
        held_catalogue=HeldCatalogue(settings.data_dir),
        data_key=data_key,
        sealer=sealer,
        blobs=BlobStore(settings.blob_dir, ScanSealer(data_key.holder)),
        reader=reader,
        limiter=FailureLimiter(settings.status_max_failures, settings.status_window_seconds),
        calendar_overrides=overrides,
    )
    if settings.clock_offset_seconds:
        node.clock = offset_clock(settings.clock_offset_seconds)
    if data_key.locked:  # sealed once an agent has unlocked the key, then the sync runs
        from node.sync_runner import show_lock

        show_lock(app, True)
        data_key.when_unlocked(lambda: show_lock(app, False))
        data_key.when_unlocked(lambda: _seal_clear_data(app, node, records))
    else:
        _seal_clear_data(app, node, records)
    data_key.when_unlocked(node.nudge_sync)
    app.extensions[_EXTENSION] = node
    return node


def _seal_clear_data(app: Flask, node: NodeServices, records: SealedRecords) -> None:
    """Seal the sync records and scans an earlier release kept in clear (the records from
    where the last start stopped, the scans once)."""
    node.blobs.seal_clear_files()
    try:
        with db_session.app_session(app) as session:
            if seal_clear_records(session, records):
                session.commit()
    except SQLAlchemyError:
        return  # no schema yet (``sanji node init`` makes it): nothing to seal
