"""A case as others see it: the API's shape, the public status, the receipt's facts.

Personal data leaves the node's store only through here: the API shows it masked, the
public status shows none of it, the receipt shows the name in full (it is the citizen's)
and the ID number masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.case_log import case_events, event_payload
from node.case_progress import SUPPLEMENT_EVENTS
from node.hub_receipts import arrival_of
from node.models import NodeCase, NodeMaterial
from node.receipt_pdf import ReceiptData, status_url
from shared.deciding.case_work import sealed_case_events
from shared.domain.case_state import fold
from shared.domain.catalogue import Catalogue
from shared.domain.certificates import reuses_of
from shared.domain.delivery import courier_of
from shared.domain.errors import DomainError, NotFound
from shared.domain.identity import mask_id_number
from shared.storage.sync_store import PayloadSealer, SyncEvent
from sync_protocol import Receipt


def item_name(catalogue: Catalogue, code: str, lang: str = "zh") -> str:
    """The item's name, or its code when the held catalogue no longer has it."""
    try:
        return catalogue.item(code).name.get(lang)
    except NotFound:
        return code


def applicant_of(case: NodeCase, sealer: PayloadSealer) -> dict[str, Any]:
    """The applicant as registered (personal data: show only to those who may see it)."""
    data = sealer.open(case.applicant_sealed, f"applicant:{case.case_id}")
    assert isinstance(data, dict)
    return data


def query_code_of(case: NodeCase, sealer: PayloadSealer) -> str:
    code = sealer.open(case.query_code_sealed, f"query:{case.case_id}")
    assert isinstance(code, str)
    return code


def form_of(case: NodeCase, sealer: PayloadSealer) -> dict[str, Any]:
    data = sealer.open(case.form_sealed, f"form:{case.case_id}")
    assert isinstance(data, dict)
    return data


def materials_of(session: Session, case: NodeCase) -> list[NodeMaterial]:
    return list(
        session.scalars(
            select(NodeMaterial)
            .where(NodeMaterial.case_id == case.case_id)
            .order_by(NodeMaterial.id)
        )
    )


def _latest_payload(
    session: Session, case: NodeCase, sealer: PayloadSealer, types: frozenset[str]
) -> tuple[str, dict[str, Any]] | None:
    found = None
    for event in case_events(session, case.case_id):
        if event.type in types:
            found = (event.type, event_payload(event, sealer))
    return found


def reused_materials(session: Session, case: NodeCase, sealer: PayloadSealer) -> list[str]:
    """The materials the registration took from the certificate store by reference
    (证照库调取): no scan of them is held here."""
    found = _latest_payload(session, case, sealer, frozenset({"registered"}))
    return [r.material_code for r in reuses_of(found[1])] if found else []


def missing_materials(session: Session, case: NodeCase, sealer: PayloadSealer) -> list[str]:
    """Every material the last supplement request asked for (一次性告知), unless answered."""
    if case.stage != "supplement_requested":
        return []
    found = _latest_payload(session, case, sealer, SUPPLEMENT_EVENTS)
    if found is None:
        return []
    missing = found[1].get("missing", [])
    return [str(code) for code in missing] if isinstance(missing, list) else []


def outcome_of(session: Session, case: NodeCase, sealer: PayloadSealer) -> str | None:
    """``approved``, ``rejected`` or ``withdrawn`` once decided, as the deciding window's
    events say (the same fold as at every tier); else None."""
    try:
        state = fold(sealed_case_events(session, sealer, case.case_id))
    except DomainError:
        return None  # a log this node cannot fold yet (an event still on its way)
    return state.outcome.value if state.outcome is not None else None


def referral_of(session: Session, case: NodeCase, sealer: PayloadSealer
                ) -> dict[str, str | None] | None:
    """Where the case was sent to be decided when its item follows the applicant's area
    (全城通办): the office's site code and the reason; None when decided on this branch."""
    found = _latest_payload(session, case, sealer, frozenset({"referred"}))
    if found is None:
        return None
    handover = found[1].get("handover")
    return {"to": str(found[1].get("to", "")), "reason": str(found[1].get("reason", "")),
            # the station of the applicant's area that hands the result over (else null:
            # the registering station)
            "handover": handover if isinstance(handover, str) else None}


def deadline_of(session: Session, case: NodeCase, sealer: PayloadSealer) -> str | None:
    """The deadline the deciding window set at acceptance, once it came down; else null."""
    deadline = None
    for event in case_events(session, case.case_id):
        if event.origin != case.site_code:
            value = event_payload(event, sealer).get("deadline")
            if isinstance(value, str):
                deadline = value
    return deadline


def arrival(session: Session, case: NodeCase) -> Receipt | None:
    """The hub's receipt that first covered this site's registration of the case: the proof
    that, and when, the city received it (None until it has come down)."""
    registered = session.scalars(select(SyncEvent).where(
        SyncEvent.case_id == case.case_id, SyncEvent.type == "registered",
        SyncEvent.origin == case.site_code).limit(1)).first()
    if registered is None:
        return None
    return arrival_of(session, registered.origin, registered.epoch, registered.seq)


def arrival_dict(receipt: Receipt | None) -> dict[str, Any] | None:
    """The receipt as the API shows it (key id and signature in hex)."""
    if receipt is None:
        return None
    return {"origin": receipt.origin, "epoch": receipt.epoch,
            "through_seq": receipt.through_seq, "at": receipt.at.isoformat(),
            "key_id": receipt.signature.key_id.hex(),
            "signature": receipt.signature.value.hex()}


def case_api_dict(session: Session, case: NodeCase, sealer: PayloadSealer) -> dict[str, Any]:
    """``GET /api/v1/cases/<id>``: the contract's keys, then ``stage``, the masked
    applicant and the materials."""
    applicant = applicant_of(case, sealer)
    masked: dict[str, Any] = {"kind": case.applicant_kind, "name": case.applicant_masked}
    if "id_number" in applicant:
        masked["id_number"] = mask_id_number(str(applicant["id_number"]))
    return {
        "case_id": str(case.case_id),
        "acceptance_no": case.acceptance_no,
        "item_code": case.item_code,
        "kind": case.kind,
        "state": case.state,
        "site": case.site_code,
        "window": case.window,
        "deadline": deadline_of(session, case, sealer),
        "events": [
            {
                "origin": e.origin,
                "epoch": e.epoch,
                "seq": e.seq,
                "type": e.type,
                "actor": e.actor,
                "at": e.at.isoformat(),
            }
            for e in case_events(session, case.case_id)
        ],
        "stage": case.stage,
        "catalogue_version": case.catalogue_version,
        "delivery": case.delivery,
        "registered_at": case.registered_at.isoformat(),
        "applicant": masked,
        "materials": [
            {
                "code": m.material_code,
                "sha256": m.sha256,
                "size": m.size,
                "media_type": m.media_type,
            }
            for m in materials_of(session, case)
        ],
        # taken from the certificate store by reference (证照库): no scan held here
        "reused_materials": reused_materials(session, case, sealer),
        "missing": missing_materials(session, case, sealer),
        "hub_receipt": arrival_dict(arrival(session, case)),
        "referred": referral_of(session, case, sealer),
    }


def public_status(
    session: Session,
    case: NodeCase,
    catalogue: Catalogue,
    sealer: PayloadSealer,
    *,
    lang: str,
    as_of: datetime,
) -> dict[str, Any]:
    """``GET /api/v1/public/status`` from this node's copy: no personal data at all;
    ``as_of`` is when the copy was last brought up to date."""
    missing = missing_materials(session, case, sealer)
    try:
        item = catalogue.item(case.item_code)
        names = item.material_names(missing, lang)
    except DomainError:  # an item withdrawn since
        names = missing
    return {
        "acceptance_no": case.acceptance_no,
        "item_name": item_name(catalogue, case.item_code, lang),
        "state": case.state,
        "stage": case.stage,
        "deadline": deadline_of(session, case, sealer),
        "missing": missing,
        "missing_names": names,
        "outcome": outcome_of(session, case, sealer),
        "as_of": as_of.isoformat(),
        "courier": courier_of((e.type, event_payload(e, sealer), e.at)
                              for e in case_events(session, case.case_id)
                              if e.type == "result_handed_over"),
    }


def receipt_data(
    session: Session,
    case: NodeCase,
    catalogue: Catalogue,
    sealer: PayloadSealer,
    *,
    site_name: str,
    public_base_url: str,
) -> ReceiptData:
    """The facts printed on the case's receipt."""
    applicant = applicant_of(case, sealer)
    person = applicant.get("legal_representative", applicant)
    id_number = str(person.get("id_number", "")) if isinstance(person, dict) else ""
    promised = 0
    material_names: list[str] = []
    try:
        item = catalogue.item(case.item_code)
        promised = item.promised_days
        for m in materials_of(session, case):
            material = item.material(m.material_code)
            name = material.name.zh if material is not None else m.material_code
            if name not in material_names:
                material_names.append(name)
    except NotFound:
        material_names = sorted({m.material_code for m in materials_of(session, case)})
    query_code = query_code_of(case, sealer)
    return ReceiptData(
        site_name=site_name,
        site_code=case.site_code,
        acceptance_no=case.acceptance_no,
        query_code=query_code,
        item_code=case.item_code,
        item_name=item_name(catalogue, case.item_code),
        applicant_name=str(applicant.get("name", "")),
        applicant_id_masked=mask_id_number(id_number) if id_number else "",
        registered_at=case.registered_at,
        promised_days=promised,
        delivery=case.delivery,
        materials=material_names,
        status_url=status_url(public_base_url, case.acceptance_no, query_code),
    )
