"""Cases registered at another station whose result the applicant collects here (全城通办).

An applicant who applied far from home may choose a station of their home area to collect
the result at (``handover_station`` in the registration). The office that decides the case
refers it with that station named (``shared.deciding.competent_site``), and the exchange
brings the case's events here, its registration first. This station then keeps the case
in its agents' list like one of its own, so that they can hand the result over and answer
the public lookup; the query code itself never travels (only its verifier), so the receipt
can be printed again only where the case was registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.models import NodeCase
from shared.domain.application import QUERY_VERIFIER_BYTES
from shared.domain.competence import HANDOVER_STATION
from shared.domain.identity import mask_name
from shared.storage.sync_store import PayloadSealer
from sync_protocol import Event


def is_collected_here(case: NodeCase, site_code: str) -> bool:
    """Whether ``case`` was registered elsewhere and only its result is handed over here."""
    return case.site_code != site_code


def keep_collected_cases(session: Session, site_code: str, sealer: PayloadSealer,
                         events: Sequence[Event], now: datetime) -> int:
    """Add the cases whose registration, arriving from the parent, names this station for
    the hand-over; returns how many were added (a case already held is left alone)."""
    added = 0
    for event in events:
        payload = event.payload
        if (event.type != "registered" or event.origin == site_code
                or payload.get(HANDOVER_STATION) != site_code
                or session.get(NodeCase, event.case_id) is not None):
            continue
        session.add(_case_of(event, payload, sealer, now))
        added += 1
    if added:
        session.flush()
    return added


def _case_of(event: Event, payload: Mapping[str, Any], sealer: PayloadSealer,
             now: datetime) -> NodeCase:
    applicant = payload.get("applicant")
    applicant = dict(applicant) if isinstance(applicant, Mapping) else {}
    kind = "company" if applicant.get("kind") == "company" else "person"
    name = str(applicant.get("name", ""))
    verifier = payload.get("query_verifier")
    return NodeCase(
        case_id=event.case_id,
        acceptance_no=str(payload.get("acceptance_no", "")),
        # the verifier as the registering station keeps it (12 hex digits): the lookup
        # answers here with the code the citizen holds
        query_code_hash=(f"{verifier:0{2 * QUERY_VERIFIER_BYTES}x}"
                         if isinstance(verifier, int) else ""),
        query_code_sealed=sealer.seal("", f"query:{event.case_id}"),
        site_code=event.origin,
        item_code=str(payload.get("item_code", "")),
        catalogue_version=int(str(payload.get("catalogue_version", 0))),
        kind=str(payload.get("kind", "")),
        window=str(payload.get("window", "")),
        delivery=str(payload.get("delivery", "village")),
        state="registered",
        stage="sent_up",
        applicant_kind=kind,
        applicant_masked=mask_name(name) if kind == "person" else name,
        applicant_sealed=sealer.seal(applicant, f"applicant:{event.case_id}"),
        form_sealed=sealer.seal(dict(payload.get("form") or {}), f"form:{event.case_id}"),
        registered_by=event.actor,
        registered_at=event.at,
        updated_at=now,
        bundle_id=None,  # a part of a one form stands alone here: its parent is not held
        composite=None,
    )
