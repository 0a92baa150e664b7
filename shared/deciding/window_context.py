"""What a deciding site's window code works with, free of any web framework: the queue's
rows (:class:`QueueEntry`), the site's projection of its cases (:class:`WindowStore`, which
hides whether it is ``hub_cases`` or a node's table) and the context every window action
runs in (:class:`WindowContext`). The window API, the window pages, the projection and bulk
reassignment all take these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from shared.deciding.receipt_books import ReceiptModel
from shared.domain.catalogue import Catalogue
from shared.domain.catalogue_versions import CatalogueVersions
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite


@dataclass(frozen=True, slots=True)
class QueueEntry:
    case_id: uuid.UUID
    acceptance_no: str
    item_code: str
    state: str
    stage: str
    claimed_by: str | None
    due_ms: int | None
    co_approval: bool = False
    """Listed for the window's department to co-approve (会签), not the window's own."""


@dataclass(frozen=True, slots=True)
class FeeOwed:
    """A case of the window whose fees are not all paid (the finance window's list)."""

    case_id: uuid.UUID
    acceptance_no: str
    item_code: str
    state: str
    due_fen: int
    paid_fen: int


class WindowStore(Protocol):
    """The deciding site's projection of its cases."""

    def queue(self, session: Session, window: str, limit: int,
              department: str | None = None) -> list[QueueEntry]: ...

    def claimed(self, session: Session, window: str, username: str,
                limit: int) -> list[QueueEntry]: ...

    def refresh(self, session: Session, case_id: uuid.UUID, now: datetime) -> None: ...

    def owed(self, session: Session, window: str, limit: int) -> list[FeeOwed]: ...

    @property
    def receipts(self) -> ReceiptModel | None:
        """The site's receipt table (以票控费): a payment takes its number there."""


@dataclass
class WindowContext:
    site: SyncSite
    tier: str
    catalogue: Callable[[], Catalogue]
    calendar: Callable[[], WorkingDayCalendar]
    store: WindowStore
    clock: Callable[[], datetime]
    versions: CatalogueVersions | None = None
    """Every catalogue release the site holds: a case is decided by the one it was accepted
    under (None: by the newest, ``catalogue``)."""
    warning_share: float = DEFAULT_WARNING_SHARE
    """The share of the promised time after which a case is warned (the site's setting)."""
    reuse_checks: Callable[[Session, uuid.UUID], dict[str, str | None]] | None = None
    """What the certificate store found of each material the case's registration took from
    it by reference: None when trusted, else why not (the hub, which keeps the store; a
    deciding node has None and shows them as checked by the city)."""
