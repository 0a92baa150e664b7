"""The parent of a one-form application as a site sees it: its parts folded from the events
held here (:mod:`shared.domain.case_bundles`), so the parent can never disagree with them.

A site lists the part ids it holds (the hub and deciding sites from their projection's
``bundle_id``, a village from its own cases) and :func:`parent_status` folds each part. A
part not yet held here (still on its way) leaves the parent in progress: ``expected`` comes
from the parts' registration, not from what arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from shared.deciding import case_work
from shared.deciding.case_projection import fold_seen
from shared.domain.case_bundles import BundleRef, BundleStatus, PartStatus, bundle_of, bundle_status
from shared.domain.case_events import EventType
from shared.domain.errors import NotFound
from shared.exchange.site import SyncSite


def parent_status(session: Session, site: SyncSite, bundle_id: uuid.UUID,
                  part_ids: Iterable[uuid.UUID]) -> tuple[BundleRef, BundleStatus]:
    """The parent ``bundle_id`` and where each of its parts held here stands;
    :class:`NotFound` when this site holds none of them."""
    ref: BundleRef | None = None
    parts: list[PartStatus] = []
    for case_id in sorted(set(part_ids)):
        events = case_work.case_events(session, site, case_id)
        if not events or events[0].type is not EventType.REGISTERED:
            continue
        named = bundle_of(events[0].payload)
        if named is None or named.id != bundle_id:
            continue
        ref = ref or named
        state = fold_seen(events)
        closed = state.state.value == "withdrawn" or state.result_issued_at is not None
        parts.append(PartStatus(case_id, str(events[0].payload.get("acceptance_no", "")),
                                state.item_code or "", state.state.value,
                                state.outcome.value if state.outcome else None, closed))
    if ref is None:
        raise NotFound("bundle_id", "no one-form application with this id at this site")
    return ref, bundle_status(bundle_id, len(ref.parts), parts)


def parse_bundle_id(text: str) -> uuid.UUID:
    """A parent's id from a URL; :class:`NotFound` for anything else (as for an unknown id)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("bundle_id", "no one-form application with this id at this site")


def parent_api_dict(ref: BundleRef, status: BundleStatus) -> dict[str, Any]:
    """``GET /api/v1/bundles/<id>``: the parent's number and composite, and its parts."""
    return {"acceptance_no": ref.acceptance_no, "composite": ref.composite, **status.as_dict()}
