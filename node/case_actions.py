"""What the agent records on a case after registering it; each is an event that travels up.

Adding a material (a late scan, or the answer to a supplement request), handing the result
to the citizen, the citizen's satisfaction rating (好差评, one per case) and dispatching the
paper originals on a hand-over list (移交清单). Each function checks, then writes the event
and its outbox row, and commits; a refused action writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.case_log import NewEvent, append_local_event, case_events
from node.case_progress import (
    MATERIAL_ADDED,
    ORIGINALS_DISPATCHED,
    RATED,
    RESULT_HANDED_OVER,
    SUPPLEMENT_PROVIDED,
    is_decided,
)
from node.case_summary import missing_materials, referral_of
from node.materials import CheckedFile
from node.models import NodeCase, NodeMaterial
from shared.domain.delivery import handover_payload
from shared.domain.errors import InvalidInput, StateConflict
from shared.domain.rating import rating_payload
from shared.exchange.site import SyncSite


@dataclass(frozen=True, slots=True)
class MaterialAdded:
    """A material attached to a case; ``created`` is False when the same file was held."""

    material_code: str
    sha256: str
    size: int
    media_type: str
    created: bool


def add_material(
    session: Session,
    case: NodeCase,
    checked: CheckedFile,
    *,
    site: SyncSite,
    actor: str,
    now: datetime,
) -> MaterialAdded:
    """Attach a stored file to the case and queue a ``material_added`` event."""
    held = session.scalar(
        select(NodeMaterial).where(
            NodeMaterial.case_id == case.case_id,
            NodeMaterial.material_code == checked.material_code,
            NodeMaterial.sha256 == checked.sha256,
        )
    )
    if held is not None:
        return MaterialAdded(held.material_code, held.sha256, held.size, held.media_type, False)
    if case.stage == "handed_over":
        raise StateConflict("case", "the result was already handed over")
    session.add(
        NodeMaterial(
            case_id=case.case_id,
            material_code=checked.material_code,
            sha256=checked.sha256,
            size=checked.size,
            media_type=checked.media_type,
            added_at=now,
        )
    )
    payload = {
        "code": checked.material_code,
        "sha256": checked.sha256,
        "size": checked.size,
        "media_type": checked.media_type,
    }
    missing = missing_materials(session, case, site.sealer)
    events = [NewEvent(MATERIAL_ADDED, actor, payload)]
    held_codes = {checked.material_code} | set(
        session.scalars(select(NodeMaterial.material_code).where(
            NodeMaterial.case_id == case.case_id))
    )
    if missing and set(missing) <= held_codes:
        # Everything the window asked for (一次性告知) is here: the answer goes up.
        events.append(NewEvent(SUPPLEMENT_PROVIDED, actor, {"provided": sorted(missing)}))
    _commit_events(session, case, events, site, now)
    return MaterialAdded(
        checked.material_code, checked.sha256, checked.size, checked.media_type, True
    )


def record_handover(
    session: Session,
    case: NodeCase,
    *,
    method: str,
    receiver_name: str,
    site: SyncSite,
    actor: str,
    now: datetime,
    courier: Mapping[str, str] | None = None,
) -> None:
    """The result was given to the citizen (转交), or sent by courier: once, and only after a
    decision (``courier``: its ``carrier``, ``tracking_no`` and ``address``)."""
    payload = handover_payload(method, receiver_name, **(courier or {}))
    if case.stage == "handed_over":
        raise StateConflict("case", "the result was already handed over")
    if not is_decided(case.stage):
        raise StateConflict("case", "no result has arrived for this case yet")
    referral = referral_of(session, case, site.sealer)
    chosen = referral.get("handover") if referral is not None else None
    if chosen and chosen != site.code:  # 全城通办: the applicant collects it near home
        raise StateConflict("case", f"the applicant collects the result at station {chosen}")
    _commit_event(session, case, NewEvent(RESULT_HANDED_OVER, actor, payload), site, now)


def record_rating(
    session: Session,
    case: NodeCase,
    *,
    rating: str,
    comment: str,
    site: SyncSite,
    actor: str,
    now: datetime,
    indicators: Mapping[str, int] | None = None,
) -> None:
    """The citizen's satisfaction rating (好差评) given at the station: one per case, after
    the decision, with the indicators they scored (:mod:`shared.domain.rating`)."""
    payload = rating_payload(rating, channel="village", indicators=indicators or {},
                             comment=comment)
    if not is_decided(case.stage):
        raise StateConflict("case", "the citizen rates the service once the case is decided")
    if any(e.type == RATED for e in case_events(session, case.case_id)):
        raise StateConflict("rating", "this case has already been rated")
    _commit_event(session, case, NewEvent(RATED, actor, payload), site, now)


def dispatch_originals(
    session: Session,
    cases: Sequence[NodeCase],
    *,
    destination: str,
    site: SyncSite,
    actor: str,
    now: datetime,
) -> uuid.UUID:
    """Put the paper originals of ``cases`` on one hand-over list; returns the list's id."""
    if not cases:
        raise InvalidInput("cases", "choose at least one case")
    if not destination.strip():
        raise InvalidInput("destination", "required")
    list_id = uuid.uuid4()
    try:
        for case in cases:
            codes = sorted(
                {
                    m.material_code
                    for m in session.scalars(
                        select(NodeMaterial).where(NodeMaterial.case_id == case.case_id)
                    )
                }
            )
            payload = {
                "list_id": str(list_id),
                "destination": destination.strip(),
                "materials": codes,
            }
            append_local_event(
                session,
                case,
                NewEvent(ORIGINALS_DISPATCHED, actor, payload),
                site=site,
                now=now,
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return list_id


def _commit_event(
    session: Session, case: NodeCase, event: NewEvent, site: SyncSite, now: datetime
) -> None:
    _commit_events(session, case, [event], site, now)


def _commit_events(
    session: Session, case: NodeCase, events: Sequence[NewEvent], site: SyncSite, now: datetime
) -> None:
    try:
        for event in events:
            append_local_event(session, case, event, site=site, now=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
