"""Registering a case at this node, without waiting for the network.

Everything is checked first — the item exists in the catalogue the node holds, the
applicant, the form, the delivery choice, the files — and every problem is reported at once.
Then one transaction writes the case, its ``registered`` event, the event's outbox row, the
materials and the idempotency key. The acceptance number needs no coordination: the site
code is unique in the tree and the sequence is the site's own for that day (and epoch).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.case_log import NewEvent, append_local_event, current_epoch, next_value
from node.case_progress import REGISTERED
from node.materials import CheckedFile, material_of
from node.models import NodeCase, NodeIdempotency, NodeMaterial
from node.sealing import DataSealer
from shared.domain.application import (
    CheckedApplication,
    acceptance_number,
    check_application,
    new_query_code,
    query_code_opens,
    request_digest,
    stored_query_check,
)
from shared.domain.case_bundles import BundleRef
from shared.domain.catalogue import Catalogue
from shared.domain.certificates import Reuse, check_reuse, consent_record, reuse_entries
from shared.domain.competence import HANDOVER_STATION, competent_area, handover_station_problem
from shared.domain.errors import DomainError, InvalidInput, NotFound, Problems, StateConflict
from shared.domain.working_days import local_date
from shared.exchange.site import SyncSite
from shared.storage.case_ids import reserve_case_id
from sync_protocol import is_derived

R = TypeVar("R")


def query_code_matches(case: NodeCase, query_code: str) -> bool:
    """Whether a typed query code is the case's (constant-time)."""
    return query_code_opens(case.case_id, query_code, case.query_code_hash)


@dataclass(frozen=True, slots=True)
class IntakeRequest:
    """What the agent (or an API client) submits; nothing here is trusted yet."""

    item_code: str
    applicant: Mapping[str, Any]
    form: Mapping[str, Any]
    delivery: str = "village"
    files: Sequence[CheckedFile] = field(default_factory=tuple)
    reuse: Sequence[Mapping[str, Any]] = ()
    """Materials taken from the certificate store: ``{material_code, ref}`` each (证照库)."""
    reuse_consent: bool = False
    handover_station: str | None = None
    """全城通办: the station of the competent area the applicant collects the result at."""

    def digest(self) -> str:
        """A fingerprint of the request, to notice an Idempotency-Key reused for another."""
        body: dict[str, Any] = {
            "item_code": self.item_code,
            "applicant": self.applicant,
            "form": self.form,
            "delivery": self.delivery,
            "files": sorted((f.material_code, f.sha256) for f in self.files),
        }
        if self.reuse:  # without reuse, the fingerprint it had before reuse existed
            body["reuse"] = sorted((str(r.get("material_code")), str(r.get("ref")))
                                   for r in self.reuse)
            body["reuse_consent"] = self.reuse_consent
        if self.handover_station:
            body[HANDOVER_STATION] = self.handover_station
        return request_digest(body)

    def reused(self) -> list[Reuse]:
        """The reuse entries (as :func:`check_request` checked them)."""
        return [Reuse(str(r.get("material_code", "")), str(r.get("ref", "")))
                for r in self.reuse]


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """The registered case; ``created`` is False when an idempotency key found it again."""

    case_id: uuid.UUID
    acceptance_no: str
    query_code: str
    state: str
    created: bool


@dataclass(frozen=True, slots=True)
class IntakeContext:
    """What the intake needs from the node: who it is, what it offers, how it seals."""

    site_code: str
    catalogue: Catalogue
    sealer: DataSealer
    sync_site: SyncSite


def check_request(ctx: IntakeContext, request: IntakeRequest, now: datetime) -> CheckedApplication:
    """Validate everything; :class:`Problems` lists every bad field, nothing is written."""
    checked, problems = check_application(
        ctx.catalogue, request.item_code, request.applicant, request.form, request.delivery, now
    )
    if checked is not None:
        for index, held in enumerate(request.files):
            try:
                material_of(checked.item, held.material_code)
            except InvalidInput as exc:
                problems[f"files.{index}.material_code"] = exc.reason
        problems.update(check_reuse(checked.item, request.reuse, request.reuse_consent,
                                    [f.material_code for f in request.files])[1])
        if request.handover_station:
            problem = handover_station_problem(
                checked.item, {"form": checked.form, "applicant": checked.applicant.to_dict(),
                               "delivery": request.delivery},
                ctx.site_code, request.handover_station)
            if problem is not None:
                problems[HANDOVER_STATION] = problem
    if problems or checked is None:
        raise Problems(problems, "the application is not complete or not valid")
    return checked


def register_case(
    session: Session,
    ctx: IntakeContext,
    request: IntakeRequest,
    *,
    idempotency_key: str | None,
    actor: str,
    now: datetime,
) -> IntakeResult:
    """Register a case in one transaction (committed here) and return its numbers.

    With an ``idempotency_key`` already used for the same request, the case it created is
    returned with ``created=False``; used for a different request, :class:`StateConflict`.
    Files in ``request.files`` must already be in the blob store.
    """
    def write() -> IntakeResult:
        checked = check_request(ctx, request, now)
        return write_case(session, ctx, request, checked, idempotency_key, actor, now)

    return register_once(session, idempotency_key,
                         lambda key: _find_by_key(session, ctx, key, request), write)


def register_once(session: Session, idempotency_key: str | None,
                  find: Callable[[str], R | None], write: Callable[[], R]) -> R:
    """Write a registration once per ``idempotency_key``, committed here: what the key
    already made is answered again (``find``), and a submission that lost the race to the
    same key gets the winner's answer instead of a second case."""
    if idempotency_key is not None:
        found = find(idempotency_key)
        if found is not None:
            return found
    try:
        result = write()
        session.commit()
    except IntegrityError:
        session.rollback()
        if idempotency_key is None:
            raise
        found = find(idempotency_key)
        if found is None:
            raise
        return found
    except BaseException:
        session.rollback()
        raise
    return result


def _find_by_key(
    session: Session, ctx: IntakeContext, key: str, request: IntakeRequest
) -> IntakeResult | None:
    row = session.get(NodeIdempotency, key)
    if row is None:
        return None
    if row.request_sha256 != request.digest():
        raise StateConflict(
            "Idempotency-Key", "this key was already used for a different application"
        )
    case = session.get(NodeCase, row.case_id)
    if case is None:  # pragma: no cover - the foreign key forbids it
        raise DomainError("Idempotency-Key", "the key names a missing case")
    return IntakeResult(
        case_id=case.case_id,
        acceptance_no=case.acceptance_no,
        query_code=ctx.sealer.open(case.query_code_sealed, f"query:{case.case_id}"),
        state=case.state,
        created=False,
    )


def write_case(
    session: Session,
    ctx: IntakeContext,
    request: IntakeRequest,
    checked: CheckedApplication,
    idempotency_key: str | None,
    actor: str,
    now: datetime,
    *,
    bundle: BundleRef | None = None,
    query_code: str | None = None,
) -> IntakeResult:
    """Write one case and its ``registered`` event. A part of a one-form application carries
    its ``bundle`` (the parent's number and parts) and the query code its siblings share."""
    case_id = reserve_case_id(session, ctx.sync_site.code, ctx.sync_site.epoch)
    epoch = current_epoch(session)
    day = local_date(now).strftime("%Y%m%d")
    seq = next_value(session, f"acceptance:{ctx.site_code}:{day}:{epoch}")
    acceptance_no = acceptance_number(ctx.site_code, now, epoch, seq)
    query_code = query_code or new_query_code()
    query_check = stored_query_check(case_id, query_code)
    applicant = checked.applicant.to_dict()
    item = checked.item
    case = NodeCase(
        case_id=case_id,
        acceptance_no=acceptance_no,
        query_code_hash=query_check,
        query_code_sealed=ctx.sealer.seal(query_code, f"query:{case_id}"),
        site_code=ctx.site_code,
        item_code=item.code,
        catalogue_version=ctx.catalogue.version,
        kind=item.kind.value,
        window=item.window,
        delivery=request.delivery,
        state="registered",
        stage="queued_here",
        applicant_kind=checked.applicant.kind,
        applicant_masked=str(checked.applicant.masked().get("name", "")),
        applicant_sealed=ctx.sealer.seal(applicant, f"applicant:{case_id}"),
        form_sealed=ctx.sealer.seal(checked.form, f"form:{case_id}"),
        registered_by=actor,
        registered_at=now,
        updated_at=now,
        bundle_id=bundle.id if bundle else None,
        composite=bundle.composite if bundle else None,
    )
    session.add(case)
    session.flush()
    files = _unique_files(request.files)
    for checked_file in files:
        session.add(
            NodeMaterial(
                case_id=case_id,
                material_code=checked_file.material_code,
                sha256=checked_file.sha256,
                size=checked_file.size,
                media_type=checked_file.media_type,
                added_at=now,
            )
        )
    payload = {
        "acceptance_no": acceptance_no,
        "query_verifier": int(query_check, 16),
        "item_code": item.code,
        "catalogue_version": ctx.catalogue.version,
        "kind": item.kind.value,
        "window": item.window,
        "delivery": request.delivery,
        "applicant": applicant,
        "form": checked.form,
        "materials": [
            {
                "code": f.material_code,
                "sha256": f.sha256,
                "size": f.size,
                "media_type": f.media_type,
            }
            for f in files
        ] + reuse_entries(request.reused()),
    }
    if request.reuse:  # the applicant's consent, recorded by the agent (证照库)
        payload["reuse_consent"] = consent_record(request.reused(), actor, now)
    if bundle is not None:
        payload["bundle"] = bundle.as_payload()
    area = competent_area(item, payload)
    if area is not None:  # 全城通办: the area whose office decides, as registered
        payload["competent_area"] = area
        if request.handover_station:  # and where the applicant collects the result
            payload[HANDOVER_STATION] = request.handover_station
    row = append_local_event(
        session, case, NewEvent(REGISTERED, actor, payload), site=ctx.sync_site, now=now
    )
    if not is_derived(case_id, row.origin, row.epoch, row.seq):
        raise RuntimeError(f"the registration took {row.origin}/{row.epoch}/{row.seq}, "
                           f"not the place case {case_id} was derived from")
    if idempotency_key is not None:
        session.add(
            NodeIdempotency(
                key=idempotency_key,
                case_id=case_id,
                request_sha256=request.digest(),
                created_at=now,
            )
        )
    session.flush()
    return IntakeResult(case_id, acceptance_no, query_code, case.state, created=True)


def _unique_files(files: Sequence[CheckedFile]) -> list[CheckedFile]:
    seen: set[tuple[str, str]] = set()
    unique: list[CheckedFile] = []
    for f in files:
        if (f.material_code, f.sha256) not in seen:
            seen.add((f.material_code, f.sha256))
            unique.append(f)
    return unique


def find_case(session: Session, case_id: uuid.UUID) -> NodeCase:
    """The case ``case_id``; :class:`NotFound` when this node does not hold it."""
    case = session.get(NodeCase, case_id)
    if case is None:
        raise NotFound("case_id", "no such case at this site")
    return case


def find_by_acceptance_no(session: Session, acceptance_no: str) -> NodeCase | None:
    return session.scalar(select(NodeCase).where(NodeCase.acceptance_no == acceptance_no))
