"""Who a site is for the exchange glue (:class:`SyncSite`), what its domain does with what
arrives (:class:`SyncHooks`), how its scans travel (:class:`BlobSettings`), and the constants
of the exchange endpoint both sides share.

The glue around :mod:`sync_protocol` is split by side: :mod:`shared.exchange.parent` answers a
child, :mod:`shared.exchange.child` exchanges with the parent, :mod:`shared.exchange.tree`
finds the way down, :mod:`shared.exchange.scans` moves the scans, :mod:`shared.exchange.status`
keeps what the last exchanges did, and :mod:`shared.exchange.transport` is the only module
that speaks HTTP. Both sides follow the library's rule that acks follow storage.
"""

from __future__ import annotations

import logging
import os
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.blob_store import BlobStore
from sync_protocol import (
    Credential,
    Event,
    Receipt,
    Release,
    SiteKey,
)
from sync_protocol.blobs import CHUNK_SIZE

LOG = logging.getLogger("sanji.sync")
EXCHANGE_PATH = "/api/v1/sync/exchange"
CONTENT_TYPE = "application/vnd.sanji.frame"
DOWN_LIMIT = 5_000
"""Down items per answer: a village's 2,000 results of a day fit one (the library leaves
what would not fit a frame for the next answer, and says more follow)."""
WIRE_VERSION = 1


class SyncHooks(Protocol):
    """What the domain does with what the sync layer stored (inside its transaction)."""

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        """New events from a child or the parent, in chain order."""

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        """Receipts from the parent ("received by the city")."""

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        """Releases accepted from the parent (catalogue, calendar, revocations)."""

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        """The parent now holds events of these cases."""


class NoHooks:
    """A pure relay: store and forward, nothing else."""

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        return None

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        return None

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        return None

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        return None


BLOB_BUDGET = 256 << 10
"""Scan bytes per exchange: 32 s at 64 kbit/s, so a cut loses at most one such exchange."""
MAX_BLOB_BUDGET = 2 << 20  # whatever the setting says, a request stays far below the frame limit
BLOB_BUDGET_ENV = "SANJI_SYNC_BLOB_BUDGET"


@dataclass(frozen=True, slots=True)
class BlobSettings:
    """How scans travel up: at most ``budget`` bytes of chunks per exchange, in chunks of
    ``chunk_size``, and at most ``max_offers`` offers per request.

    ``SANJI_SYNC_BLOB_BUDGET`` (bytes) overrides the budget, for a line slower than 64 kbit/s
    or to force a transfer over several exchanges in a test; it is read here and nowhere else.
    """

    budget: int = BLOB_BUDGET
    chunk_size: int = CHUNK_SIZE
    max_offers: int = 64
    paced: bool = True
    """Requests carry about 4 s of the measured line (``scans.paced_budget``); a budget the
    operator set in ``SANJI_SYNC_BLOB_BUDGET`` is taken as it is."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BlobSettings:
        env = os.environ if environ is None else environ
        raw = env.get(BLOB_BUDGET_ENV, "").strip()
        if not raw:
            return cls()
        try:
            budget = int(raw)
        except ValueError:
            # a typo must not stop intake (every site object is built from this): say so
            LOG.warning("blob budget ignored", extra={"fields": {
                "variable": BLOB_BUDGET_ENV, "value": raw[:40], "using": BLOB_BUDGET}})
            return cls()
        return cls(budget=max(1, min(budget, MAX_BLOB_BUDGET)), paced=False)


@dataclass
class SyncSite:
    """Who this site is in the tree, for the exchange glue."""

    key: SiteKey
    hub_site: str
    hub_public_raw: bytes
    sealer: store.PayloadSealer
    epoch: int = 1
    parent: str | None = None
    parent_url: str | None = None
    own_credentials: tuple[Credential, ...] = ()
    hooks: SyncHooks = field(default_factory=NoHooks)
    root: bool = False  # the top hub: nothing goes further up, it issues receipts
    releases: Callable[[Session, datetime], list[Release]] | None = None
    """What to pass down; default: the newest release of each kind this site holds."""
    blobs: BlobStore | None = None
    """Where this site's scans are; None: the store the app attached to its database
    engine with :func:`use_blob_store` (no store at all: scans do not travel)."""
    blob_settings: BlobSettings = field(default_factory=BlobSettings.from_env)

    @property
    def code(self) -> str:
        return self.key.site

    @property
    def is_root(self) -> bool:
        return self.root



_BLOB_STORES: weakref.WeakKeyDictionary[Engine, BlobStore] = weakref.WeakKeyDictionary()


def use_blob_store(engine: Engine, store: BlobStore) -> None:
    """Attach the site's blob store to its database engine. The app factories do it (through
    :func:`shared.web.scans_endpoint.blob_blueprint`), so the exchange endpoint, the sync job and
    ``sync-now`` find the scans of the site whose database they use."""
    _BLOB_STORES[engine] = store


def blob_store_of(session: Session, site: SyncSite) -> BlobStore | None:
    """The site's blob store: its own field, else the one attached to the session's engine."""
    if site.blobs is not None:
        return site.blobs
    return _BLOB_STORES.get(session.get_bind().engine)
