"""Registering a one-form application (一表制) at this node: one case per part, one
transaction.

The one form is checked whole (:func:`shared.domain.application.check_one_form`); then each
part is written exactly as :mod:`node.intake` writes a case of its own, with the parent's
``bundle`` in its registration and one query code shared by every part, so the citizen keeps
one receipt and one secret. The parent's acceptance number comes from the same daily
sequence as the parts', so no number is ever given twice. Either every part is written or
none is; an ``Idempotency-Key`` used again returns the parts the first request created.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.case_log import current_epoch, next_value
from node.intake import IntakeContext, IntakeRequest, IntakeResult, register_once, write_case
from node.materials import CheckedFile, material_of
from node.models import NodeCase, NodeIdempotency, NodeWindowCase
from shared.deciding import case_work
from shared.domain.application import (
    CheckedOneForm,
    acceptance_number,
    check_one_form,
    new_query_code,
    request_digest,
)
from shared.domain.case_bundles import BundleRef, bundle_of
from shared.domain.composites import one_form_materials
from shared.domain.errors import DomainError, InvalidInput, Problems, StateConflict
from shared.domain.working_days import local_date


@dataclass(frozen=True, slots=True)
class OneFormRequest:
    """What the agent (or an API client) submits for a composite; nothing trusted yet."""

    composite: str
    applicant: Mapping[str, Any]
    form: Mapping[str, Any]
    delivery: str = "village"
    files: Sequence[CheckedFile] = field(default_factory=tuple)

    def digest(self) -> str:
        """A fingerprint of the request, to notice an Idempotency-Key reused for another."""
        return request_digest({
            "composite": self.composite, "applicant": self.applicant, "form": self.form,
            "delivery": self.delivery,
            "files": sorted((f.material_code, f.sha256) for f in self.files)})


@dataclass(frozen=True, slots=True)
class OneFormResult:
    """The parent and its parts; ``created`` is False when an idempotency key found them."""

    bundle_id: uuid.UUID
    acceptance_no: str
    query_code: str
    parts: tuple[IntakeResult, ...]
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return {"bundle_id": str(self.bundle_id), "acceptance_no": self.acceptance_no,
                "query_code": self.query_code,
                "cases": [{"case_id": str(p.case_id), "acceptance_no": p.acceptance_no,
                           "state": p.state} for p in self.parts]}


def check_one_form_request(ctx: IntakeContext, request: OneFormRequest,
                           now: datetime) -> CheckedOneForm:
    """Validate everything; :class:`Problems` lists every bad field, nothing is written."""
    checked, problems = check_one_form(ctx.catalogue, request.composite, request.applicant,
                                       request.form, request.delivery, now)
    if checked is not None:
        codes = {m.code for m in one_form_materials(ctx.catalogue, checked.composite)}
        for index, held in enumerate(request.files):
            if held.material_code not in codes:
                problems[f"files.{index}.material_code"] = (
                    f"{held.material_code} is not a material of {checked.composite.code}")
    if problems or checked is None:
        raise Problems(problems, "the application is not complete or not valid")
    return checked


def register_one_form(session: Session, ctx: IntakeContext, request: OneFormRequest, *,
                      idempotency_key: str | None, actor: str, now: datetime) -> OneFormResult:
    """Register the parent's parts in one transaction (committed here)."""
    def write() -> OneFormResult:
        checked = check_one_form_request(ctx, request, now)
        result = _write_parts(session, ctx, request, checked, actor, now)
        if idempotency_key is not None:
            session.add(NodeIdempotency(key=idempotency_key, case_id=result.parts[0].case_id,
                                        request_sha256=request.digest(), created_at=now))
            session.flush()
        return result

    return register_once(session, idempotency_key,
                         lambda key: _find_by_key(session, ctx, key, request), write)


def _write_parts(session: Session, ctx: IntakeContext, request: OneFormRequest,
                 checked: CheckedOneForm, actor: str, now: datetime) -> OneFormResult:
    day = local_date(now).strftime("%Y%m%d")
    epoch = current_epoch(session)
    seq = next_value(session, f"acceptance:{ctx.site_code}:{day}:{epoch}")
    bundle = BundleRef(uuid.uuid4(), checked.composite.code,
                       acceptance_number(ctx.site_code, now, epoch, seq),
                       tuple(part.item.code for part in checked.parts))
    query_code = new_query_code()
    written: list[IntakeResult] = []
    for part in checked.parts:
        files = [f for f in request.files if _lists(part.item.code, ctx, f)]
        part_request = IntakeRequest(part.item.code, request.applicant, part.form,
                                     request.delivery, files)
        written.append(write_case(session, ctx, part_request, part, None, actor, now,
                                  bundle=bundle, query_code=query_code))
    return OneFormResult(bundle.id, bundle.acceptance_no, query_code, tuple(written), True)


def _lists(item_code: str, ctx: IntakeContext, held: CheckedFile) -> bool:
    try:
        material_of(ctx.catalogue.item(item_code), held.material_code)
    except InvalidInput:
        return False
    return True


def _find_by_key(session: Session, ctx: IntakeContext, key: str,
                 request: OneFormRequest) -> OneFormResult | None:
    row = session.get(NodeIdempotency, key)
    if row is None:
        return None
    if row.request_sha256 != request.digest():
        raise StateConflict("Idempotency-Key",
                            "this key was already used for a different application")
    first = session.get(NodeCase, row.case_id)
    if first is None or first.bundle_id is None:  # pragma: no cover - written together
        raise DomainError("Idempotency-Key", "the key names no one-form application")
    events = case_work.case_events(session, ctx.sync_site, first.case_id)
    bundle = bundle_of(events[0].payload) if events else None
    if bundle is None:  # pragma: no cover - written together
        raise DomainError("Idempotency-Key", "the key names no one-form application")
    parts = session.scalars(select(NodeCase).where(NodeCase.bundle_id == first.bundle_id)
                            .order_by(NodeCase.acceptance_no)).all()
    query_code = ctx.sealer.open(first.query_code_sealed, f"query:{first.case_id}")
    return OneFormResult(
        bundle.id, bundle.acceptance_no, query_code,
        tuple(IntakeResult(p.case_id, p.acceptance_no, query_code, p.state, created=False)
              for p in parts),
        created=False)


def one_form_part_ids(session: Session, bundle_id: uuid.UUID) -> set[uuid.UUID]:
    """The parts of ``bundle_id`` this node holds: registered here, or decided here."""
    own = session.scalars(select(NodeCase.case_id).where(NodeCase.bundle_id == bundle_id))
    decided = session.scalars(select(NodeWindowCase.case_id)
                              .where(NodeWindowCase.bundle_id == bundle_id))
    return {*own, *decided}
