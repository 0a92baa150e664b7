"""A node erases a case when the hub's ``erased`` event reaches it (PIPL art. 47).

The hub alone decides an erasure (its retention policy); every township, county and village
that holds the case follows in the transaction that stores the event: the payloads of every
event of the case become their erased form, the copies its children already received are
rewritten likewise (a copy still on its way is checked against its hash by the child, so it
is rewritten once the child acknowledges it), the
case's own row keeps its acceptance number, item and dates but not the applicant, form or
query code, its materials and idempotency records go, and its scans are forgotten and
deleted after the commit (one another live case of this site still lists is kept). Events
of an erased case that arrive later (a re-send after a restore) are erased as they arrive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.models import NodeCase, NodeIdempotency, NodeMaterial
from shared.exchange.site import SyncSite, blob_store_of
from shared.exchange.status import child_ack
from shared.storage import case_erasure, sync_store
from sync_protocol import Event


def erase_arrived(session: Session, site: SyncSite, events: Sequence[Event]) -> set[uuid.UUID]:
    """Erase what this node holds of each case of ``events`` the hub erased (in the
    caller's transaction); the cases erased."""
    if not events or not site.hub_site:
        return set()
    cases = case_erasure.erased_cases(session, {e.case_id for e in events}, by=site.hub_site)
    for case_id in sorted(cases):
        erase_case(session, site, case_id)
    return cases


def erase_case(session: Session, site: SyncSite, case_id: uuid.UUID) -> None:
    """Erase the personal data of ``case_id`` held here (its ``erased`` event is held)."""
    rows = sync_store.case_rows(session, case_id)
    scans = case_erasure.erase_payloads(session, site.sealer, rows)
    if rows:
        case_erasure.erase_down_copies(session, lambda child: child_ack(session, child),
                                       {case_id: [r.recorded_ms for r in rows]})
    scans |= set(session.scalars(select(NodeMaterial.sha256)
                                 .where(NodeMaterial.case_id == case_id)))
    session.execute(delete(NodeMaterial).where(NodeMaterial.case_id == case_id))
    session.execute(delete(NodeIdempotency).where(NodeIdempotency.case_id == case_id))
    _clear_case_row(session, site, case_id)
    still_listed = set(session.scalars(select(NodeMaterial.sha256)
                                       .where(NodeMaterial.sha256.in_(sorted(scans)))))
    still_listed |= _listed_by_live_cases(session, site, scans - still_listed, case_id)
    case_erasure.forget_scans(session, blob_store_of(session, site), scans - still_listed)
    session.flush()


def _clear_case_row(session: Session, site: SyncSite, case_id: uuid.UUID) -> None:
    """The case row keeps what the case list needs; the applicant, form and query code go
    (sealed empty: the pages that open them find nothing; no query code opens the case)."""
    case = session.get(NodeCase, case_id)
    if case is None:
        return
    case.applicant_masked = ""
    case.applicant_sealed = site.sealer.seal({}, f"applicant:{case_id}")
    case.form_sealed = site.sealer.seal({}, f"form:{case_id}")
    case.query_code_sealed = site.sealer.seal("", f"query:{case_id}")
    case.query_code_hash = ""


def _listed_by_live_cases(session: Session, site: SyncSite, scans: set[str],
                          case_id: uuid.UUID) -> set[str]:
    """The scans of ``scans`` another case not erased here still names: a relay holds
    other sites' cases, which ``node_materials`` (this site's registrations) does not list."""
    others = {sha: sync_store.blob_cases(session, sha) - {case_id} for sha in sorted(scans)}
    named = set().union(*others.values()) if others else set()
    erased = case_erasure.erased_cases(session, named, by=site.hub_site) if named else set()
    return {sha for sha, cases in others.items() if cases - erased}
