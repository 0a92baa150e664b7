"""The hub's collaborators (:class:`HubServices`), one per app, on ``app.extensions``.

Views, the CLI and the background timers reach them through :func:`services` (inside a
request) or :func:`services_of` (with the app in hand); :func:`init_app` builds them. Views
import this module, never :mod:`hub.app`, so the app factory is the only module that knows
every blueprint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub import db_session
from hub.epoch import hub_epoch
from hub.identity import data_keys, hub_key, token_secret
from hub.ingest import HUB_TIER, HubWindowStore, hub_hooks
from hub.notifications import SmsContext, load_templates
from hub.privacy.certificates import reuse_checks
from hub.releases import (
    HubCatalogueVersions,
    current_catalogue_release,
    published_years,
    releases_to_send,
)
from hub.settings import HubSettings
from shared.deciding.window_context import WindowContext
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_loader import load_catalogue, load_sample_catalogue
from shared.domain.release_content import catalogue_from_release
from shared.domain.working_days import CalendarOverrides, WorkingDayCalendar, YearCalendar
from shared.exchange.site import SyncSite
from shared.notify.sms_gateway import gateway_for
from shared.storage.accounts import (
    TokenSigner,
    seal_totp_secrets,
    site_totp_sealer,
)
from shared.storage.blob_store import BlobStore
from shared.storage.calendar_overrides import load_overrides
from shared.storage.failure_counts import SqlFailureCounts
from shared.storage.sealing import (
    DataKeys,
    ScanSealer,
    SealedPayloads,
    SealedRecords,
    payload_key_id,
)
from shared.storage.sync_store import (
    newest_sealed_payload,
    seal_clear_payloads,
    seal_clear_records,
    use_record_sealer,
)
from shared.storage.totp_secrets import use_totp_sealer
from shared.web.rate_limit import KEEP_SECONDS, FailureLimiter, install_failure_counts
from shared.web.request_db import engine_of
from sync_protocol import SiteKey

CATALOGUE_RECHECK_SECONDS = 5.0
STATUS_MAX_FAILURES = 10
STATUS_WINDOW_SECONDS = 600
_EXTENSION = "sanji_hub"

CatalogueLoader = Callable[[Catalogue | None], Catalogue | None]
"""Reads the catalogue release in force; given the one held, returns it again when its
version is still current, None when nothing is published (or the database cannot say)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HubServices:
    """The hub's collaborators, built once per app."""

    settings: HubSettings
    configured_catalogue: Catalogue
    clock: Callable[[], datetime] = utc_now
    catalogue_loader: CatalogueLoader | None = None
    published_catalogue: Catalogue | None = None
    catalogue_checked_at: float | None = None
    catalogue_versions: HubCatalogueVersions | None = None
    """Every catalogue release published, for the cases accepted under each."""
    epoch_loader: Callable[[], int] = lambda: 1
    """Reads the epoch the hub writes its chain and downward streams in (``sanji hub init
    --new-epoch`` moves it after a restore, with every process stopped). Read when the sync
    site is first needed, not at start-up: a database down then must not mean epoch 1."""
    published_years: list[YearCalendar] = field(default_factory=list)
    status_limiter: FailureLimiter = field(
        default_factory=lambda: FailureLimiter(STATUS_MAX_FAILURES, STATUS_WINDOW_SECONDS))
    """Wrong query codes on the public status lookup, per client address (counted in the
    database by :func:`init_app`, so every hub process sees them)."""

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue release in force (re-read at most every few seconds, so every hub
        process follows ``sanji hub import-catalog`` and the admin page without a restart);
        the configured catalogue until one is published."""
        now = time.monotonic()
        if self.catalogue_loader is not None and (
                self.catalogue_checked_at is None
                or now - self.catalogue_checked_at > CATALOGUE_RECHECK_SECONDS):
            self.catalogue_checked_at = now
            fresh = self.catalogue_loader(self.published_catalogue)
            if fresh is not None:
                self.published_catalogue = fresh
        return self.published_catalogue or self.configured_catalogue

    @cached_property
    def key(self) -> SiteKey:
        return hub_key(self.settings.key_dir, self.settings.site_code)

    @cached_property
    def data_keys(self) -> DataKeys:
        return data_keys(self.settings.key_dir)

    @cached_property
    def payload_sealer(self) -> SealedPayloads:
        return SealedPayloads(self.data_keys)

    @cached_property
    def blobs(self) -> BlobStore:
        """The hub's scans (``blobs/`` in its data directory), sealed at rest."""
        return BlobStore(self.settings.data_dir / "blobs", ScanSealer(self.data_keys))

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(token_secret(self.settings.key_dir))

    @cached_property
    def calendar(self) -> WorkingDayCalendar:
        """The shipped years and every year the hub has published, with the city's own
        overrides (``calendar_overrides.json``, when present)."""
        return WorkingDayCalendar.standard(releases=self.published_years,
                                           overrides=self.calendar_overrides)

    @cached_property
    def sms(self) -> SmsContext:
        """How texts to citizens are made and sent (:mod:`hub.notifications`): the gateway
        at ``sms_gateway_url`` (its token in ``SANJI_HUB_SMS_TOKEN``), else the log."""
        settings = self.settings
        return SmsContext(
            site=self.sync_site, catalogue=lambda: self.catalogue,
            templates=load_templates(settings.data_dir),
            gateway=gateway_for(settings.sms_gateway_url,
                                os.environ.get("SANJI_HUB_SMS_TOKEN", "")),
            centre=settings.site_name, public_base_url=settings.public_base_url)

    @cached_property
    def calendar_overrides(self) -> CalendarOverrides:
        return load_overrides(self.settings.data_dir, self.settings.site_code)

    @cached_property
    def sync_site(self) -> SyncSite:
        return SyncSite(
            key=self.key,
            hub_site=self.settings.site_code,
            hub_public_raw=self.key.public_raw,
            sealer=self.payload_sealer,
            epoch=self.epoch_loader(),
            root=True,
            releases=releases_to_send,
            hooks=hub_hooks(lambda: self.sync_site, lambda: self.catalogue,
                            lambda: self.data_keys, self.catalogue_versions,
                            calendar=lambda: self.calendar,
                            warning_share=self.settings.warning_share),
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
            versions=self.catalogue_versions,
            warning_share=self.settings.warning_share,
            reuse_checks=reuse_checks,
        )


def services() -> HubServices:
    """The current app's :class:`HubServices` (inside a request or app context)."""
    return services_of(current_app)


def services_of(app: Flask) -> HubServices:
    """``app``'s :class:`HubServices` (the CLI and the background timers)."""
    found: HubServices = app.extensions[_EXTENSION]
    return found


def init_app(app: Flask, settings: HubSettings) -> HubServices:
    """Build the hub's services for ``app`` (whose database session is set up already)."""
    hub = HubServices(settings=settings, configured_catalogue=_catalogue_for(settings))
    hub.calendar_overrides  # noqa: B018 - a bad overrides file stops the start, named
    load_templates(settings.data_dir)  # so does a bad sms_templates.json
    # Failed logins and lookups go to the database every hub process shares.
    counts = SqlFailureCounts(db_session.session_factory(app), KEEP_SECONDS)
    install_failure_counts(app, counts)
    hub.status_limiter = FailureLimiter(STATUS_MAX_FAILURES, STATUS_WINDOW_SECONDS,
                                        counts=counts)
    use_totp_sealer(engine_of(app), site_totp_sealer(settings.key_dir))
    use_record_sealer(engine_of(app), SealedRecords(hub.data_keys))
    _seal_plain_secrets(app)
    _check_data_key(app, hub)
    _seal_clear_data(app, hub)
    hub.catalogue_loader = _catalogue_loader(app, hub)
    hub.catalogue_versions = HubCatalogueVersions(lambda: db_session.app_session(app),
                                                  hub.configured_catalogue)
    hub.published_years = _published_years(app)
    hub.epoch_loader = lambda: _epoch(app)
    app.extensions[_EXTENSION] = hub
    return hub


def _seal_plain_secrets(app: Flask) -> None:
    """Seal the TOTP secrets an earlier release (or a tool without the key) kept in clear."""
    try:
        with db_session.app_session(app) as session:
            if seal_totp_secrets(session):
                session.commit()
    except SQLAlchemyError:
        return  # no schema yet (``sanji hub init`` makes it): nothing to seal


class DataKeyMismatch(RuntimeError):
    """The database holds payloads sealed under a data key this hub does not have."""


def _check_data_key(app: Flask, hub: HubServices) -> None:
    """Refuse to start when the newest sealed payload names a key this hub lacks: a second
    hub machine whose ``keys/`` was not copied from the first would otherwise seal under a
    key of its own, and neither machine could open the other's data."""
    try:
        with db_session.app_session(app) as session:
            newest = newest_sealed_payload(session)
    except SQLAlchemyError:
        return  # no schema yet (``sanji hub init`` makes it)
    if newest is not None and not hub.data_keys.holds(payload_key_id(newest)):
        raise DataKeyMismatch(
            f"the database's payloads are sealed under data key "
            f"{payload_key_id(newest).hex()}, which is not in {hub.settings.key_dir}: copy "
            "keys/data.key (and any keys/data-*.key) from the hub machine that made it")


def _seal_clear_data(app: Flask, hub: HubServices) -> None:
    """Seal the event payloads, sync records and scans an earlier release kept in clear
    (the database from where the last start stopped: a hub that sealed everything reads
    only what came since; the scans once), and the hall's bookings an upgrade kept so."""
    from hub.hall_models import seal_clear_bookings

    hub.blobs.seal_clear_files()
    try:
        with db_session.app_session(app) as session:
            sealed = seal_clear_payloads(session, hub.payload_sealer)
            sealed += seal_clear_records(session, SealedRecords(hub.data_keys))
            sealed += seal_clear_bookings(session, hub.data_keys)  # hub revision 0025
            session.commit()
            if sealed and session.get_bind().dialect.name == "sqlite":
                # the clear pages the WAL still holds go into the database (where secure
                # delete has zeroed them) and the WAL is emptied
                session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    except SQLAlchemyError:
        return  # no schema yet (``sanji hub init`` makes it): nothing to seal


def _catalogue_for(settings: HubSettings) -> Catalogue:
    if settings.catalogue_file:
        return load_catalogue(Path(settings.catalogue_file))
    return load_sample_catalogue()


def _catalogue_loader(app: Flask, hub: HubServices) -> CatalogueLoader:
    def load(held: Catalogue | None) -> Catalogue | None:
        try:
            with db_session.app_session(app) as session:
                release = current_catalogue_release(session, hub.clock())
        except SQLAlchemyError:
            return None  # no schema yet (``sanji hub init`` makes it), or a database hiccup
        if release is None:
            return None
        if held is not None and held.version == release.version:
            return held
        return catalogue_from_release(release.content)

    return load


def _epoch(app: Flask) -> int:
    with db_session.app_session(app) as session:
        return hub_epoch(session)


def _published_years(app: Flask) -> list[YearCalendar]:
    try:
        with db_session.app_session(app) as session:
            return published_years(session)
    except SQLAlchemyError:
        return []  # no schema yet: the shipped years
