"""The node's place in the sync layer: its :class:`~shared.exchange.site.SyncSite` and hooks.

Built once per app from the data directory: the site key (made at ``init``), the hub's
grant (pinned hub key, certificate, parent) and the store's epoch. A node that was set up
without enrolment still signs its events and queues them, so nothing is lost when it is
enrolled later; it just has no parent to send them to yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from node.case_log import record_receipt, refresh_progress
from node.collected_here import keep_collected_cases
from node.enrolment_setup import GRANT_FILE, SITE_KEY_FILE, site_key
from node.erasure import erase_arrived
from node.models import NodeCase, NodeWindowCase
from node.settings import NodeSettings
from shared.deciding.case_projection import DecidingHooks
from shared.domain.catalogue import Catalogue, ServiceItem
from shared.domain.catalogue_versions import CatalogueVersions
from shared.domain.release_content import CATALOGUE
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.account_events import keep_account_copies
from shared.exchange.enrolment import Grant, decode_grant
from shared.exchange.key_rotation import read_chain
from shared.exchange.site import SyncSite
from shared.storage.sync_store import PayloadSealer
from sync_protocol import Event, Receipt, Release

DECIDING_TIERS = ("township", "county")


class NodeHooks:
    """What the node does with what the exchange stored: take in the hub's copies of this
    site's accounts, refresh the agents' case list and, at a township or county, route and
    project the cases its windows decide."""

    def __init__(self, site_code: str, deciding: DecidingHooks | None = None,
                 catalogue_arrived: Callable[[bytes], None] | None = None,
                 hub_site: str = "") -> None:
        self.site_code = site_code
        self.deciding = deciding
        self.catalogue_arrived = catalogue_arrived
        self.hub_site = hub_site
        """Whose account copies count (the pinned hub's); empty before enrolment."""
        self.site: SyncSite | None = None
        """This node in the tree, once built: the hub's erasures are carried out here."""

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        if self.hub_site:
            keep_account_copies(session, events, site=self.site_code, hub_site=self.hub_site,
                                now=now)
        if self.deciding is not None:
            self.deciding.events_arrived(session, events, now)
        if self.site is not None:
            erase_arrived(session, self.site, events)
            keep_collected_cases(session, self.site_code, self.site.sealer, events, now)
        self._refresh(session, {e.case_id for e in events}, now)

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        for receipt in receipts:
            if receipt.origin == self.site_code:
                record_receipt(session, receipt, now)

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        """A catalogue release in force replaces the catalogue intake offers (one that takes
        effect later waits in ``sync_releases`` until then)."""
        current = [r for r in releases if r.kind == CATALOGUE and r.effective_from <= now]
        if current and self.catalogue_arrived is not None:
            self.catalogue_arrived(max(current, key=lambda r: r.version).content)

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        self._refresh(session, case_ids, now)

    @staticmethod
    def _refresh(session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        for case_id in case_ids:
            case = session.get(NodeCase, case_id)
            if case is not None:
                refresh_progress(session, case, now=now)


def read_grant(data_dir: Path) -> Grant | None:
    path = data_dir / GRANT_FILE
    return decode_grant(path.read_bytes()) if path.exists() else None


def node_sync_site(settings: NodeSettings, sealer: PayloadSealer, epoch: int,
                   catalogue: Callable[[], Catalogue],
                   catalogue_arrived: Callable[[bytes], None] | None = None,
                   versions: CatalogueVersions | None = None,
                   calendar: Callable[[], WorkingDayCalendar] | None = None) -> SyncSite:
    """This node in the tree; a node without a grant has no parent to talk to.
    ``versions``: the catalogue releases kept, each arriving case's item read from its own."""
    key = site_key(settings.key_dir, settings.site_code)
    grant = read_grant(settings.data_dir)
    tier = str(settings.tier.value)
    hooks = NodeHooks(settings.site_code, catalogue_arrived=catalogue_arrived,
                      hub_site=grant.hub_site if grant is not None else "")
    if grant is None:
        return SyncSite(key=key, hub_site=settings.hub_code or "", hub_public_raw=b"",
                        sealer=sealer, epoch=epoch, hooks=hooks)
    site = SyncSite(
        key=key,
        hub_site=grant.hub_site,
        hub_public_raw=grant.hub_public_raw,
        sealer=sealer,
        epoch=epoch,
        parent=grant.site.parent,
        parent_url=settings.parent_url or None,
        # the certificate, then the rotations since (``sanji node rotate-key``): a parent
        # that meets this site anew (restored, or a new PC) follows them to today's key
        own_credentials=(grant.certificate,
                         *read_chain(settings.key_dir / SITE_KEY_FILE, key).credentials),
        hooks=hooks,
    )
    hooks.site = site
    if tier in DECIDING_TIERS:

        def owner(session: Session, cases: Sequence[tuple[str, ServiceItem]]) -> list[str]:
            return [site.code if str(item.tier) == tier else "" for _, item in cases]

        hooks.deciding = DecidingHooks(site=lambda: site, catalogue=catalogue, tier=tier,
                                       model=NodeWindowCase, owner=owner, versions=versions,
                                       calendar=calendar,
                                       warning_share=settings.warning_share)
    return site

