"""The city hall's own front desk.

``POST /api/v1/cases``: a walk-in applicant registered by a front-desk agent through the same
checks as at a village (:mod:`shared.domain.application`), with an ``Idempotency-Key`` so a double
submit makes one case. The ``registered`` event is the hub's own; the hub's sync hooks then
route it like any case that arrived from below (received, routed to the authorised window).
The desk's registration page (:mod:`hub.desk_views`) checks and writes through the same
:func:`check_walk_in` and :func:`write_walk_in`, once per form with :func:`answer_once`.

The ``Idempotency-Key`` record keeps the first answer (with the query code) to give it again
on a repeat; it is sealed with the hub's data key like an event payload, bound to its key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db_session import get_session
from hub.models import HubCase
from hub.services import services
from shared.deciding import case_work
from shared.deciding.parent_cases import parent_api_dict, parent_status, parse_bundle_id
from shared.domain.application import (
    DELIVERIES,
    CheckedApplication,
    acceptance_number,
    check_application,
    check_one_form,
    new_query_code,
    query_verifier,
    request_digest,
)
from shared.domain.case_bundles import BundleRef
from shared.domain.certificates import Reuse, check_reuse, consent_record, reuse_entries
from shared.domain.competence import competent_area
from shared.domain.errors import InvalidInput, Problems, StateConflict
from shared.domain.working_days import local_date
from shared.storage import sync_store
from shared.storage.case_ids import reserve_case_id
from shared.web.certificate_lookup import consent_field, reuse_field
from shared.web.error_responses import flatten_messages
from shared.web.sign_in import require_user
from sync_protocol.times import to_ms

bp = Blueprint("hub_front_desk", __name__, url_prefix="/api/v1")
STATUS_FIELDS = ("acceptance_no", "query_code")


class CaseBodySchema(Schema):
    class Meta:
        unknown = RAISE

    item_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    applicant = fields.Dict(required=True)
    form = fields.Dict(load_default=dict)
    delivery = fields.String(load_default="window", validate=validate.OneOf(DELIVERIES))
    # materials taken from the certificate store by reference (证照库), with consent
    reuse = reuse_field()
    reuse_consent = consent_field()


_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,100}")


def idempotency_key() -> str:
    """The request's ``Idempotency-Key``; :class:`InvalidInput` when absent or not printable
    ASCII (as at a node: no NUL, no invisible characters)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput("Idempotency-Key", "1-100 printable ASCII characters")
    return key


def load_body(schema: Schema) -> dict[str, Any]:
    """The JSON body loaded by ``schema``; :class:`Problems` naming each bad field."""
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise InvalidInput("body", "must be a JSON object (Content-Type: application/json)")
    try:
        loaded: dict[str, Any] = schema.load(raw)
    except ValidationError as exc:
        raise Problems(flatten_messages(exc.messages), "invalid application")
    return loaded


def answer_given(session: Session, record_key: str, digest: str) -> Any:
    """The first answer to a repeated key (None the first time); :class:`StateConflict` when
    the key was used for a different application."""
    first = recorded(session, record_key)
    if first is None:
        return None
    if first["digest"] != digest:
        raise StateConflict("Idempotency-Key",
                            "this key was already used for a different application")
    return first["result"]


def recorded(session: Session, record_key: str) -> Any:
    """The record of a first answer (its ``digest`` and ``result``), or None."""
    held = sync_store.read_state(session, record_key)
    return None if held is None else services().payload_sealer.open(held, record_key)


def recorded_answer(session: Session, record_key: str) -> Any:
    """The answer given the first time under ``record_key``, or None."""
    first = recorded(session, record_key)
    return None if first is None else first["result"]


def remember_answer(session: Session, record_key: str, digest: str, result: Any) -> None:
    """Keep the answer for a repeat, sealed like a payload: it holds the query code."""
    sync_store.write_state(session, record_key, services().payload_sealer.seal(
        {"digest": digest, "result": result}, record_key))


@dataclass(frozen=True, slots=True)
class WalkIn:
    """A case registered at the hub's desk."""

    case_id: uuid.UUID
    acceptance_no: str
    query_code: str
    state: str

    def as_dict(self) -> dict[str, str]:
        return {"case_id": str(self.case_id), "acceptance_no": self.acceptance_no,
                "query_code": self.query_code, "state": self.state}


def next_acceptance_no(session: Session, now: datetime) -> str:
    """The next number of the hub's own daily sequence."""
    site = services().sync_site
    day = local_date(now).strftime("%Y%m%d")
    return acceptance_number(site.code, now, site.epoch,
                             sync_store.next_counter(session, f"acceptance:{site.code}:{day}"))


def write_walk_in(session: Session, checked: CheckedApplication, delivery: str, actor: str,
                  now: datetime, *, bundle: BundleRef | None = None,
                  query_code: str | None = None, reuse: Sequence[Reuse] = (),
                  scans: Sequence[Mapping[str, Any]] = ()) -> WalkIn:
    """Author the ``registered`` event of one case and route it through the hub's hooks
    (not committed). A part of a one-form application carries its ``bundle`` and the
    query code its parts share; ``scans`` are the ``materials`` entries of scans already in
    the hub's blob store (the online hall's uploads)."""
    hub = services()
    site = hub.sync_site
    case_id = reserve_case_id(session, site.code, site.epoch)
    number = next_acceptance_no(session, now)
    query_code = query_code or new_query_code()
    payload: dict[str, Any] = {
        "acceptance_no": number,
        "query_verifier": query_verifier(case_id, query_code),
        "item_code": checked.item.code, "catalogue_version": hub.catalogue.version,
        "kind": checked.item.kind.value, "window": checked.item.window,
        "delivery": delivery, "applicant": checked.applicant.to_dict(),
        "form": checked.form, "materials": [*scans, *reuse_entries(reuse)],
    }
    if reuse:  # the applicant's consent, recorded by the agent (证照库)
        payload["reuse_consent"] = consent_record(reuse, actor, now)
    if bundle is not None:
        payload["bundle"] = bundle.as_payload()
    area = competent_area(checked.item, payload)
    if area is not None:  # 全城通办: the area whose office decides, as registered
        payload["competent_area"] = area
    row = sync_store.author_event(
        session, site.key, site.sealer, epoch=site.epoch, case_id=case_id, actor=actor,
        type="registered", payload=payload, at_ms=to_ms(now), up=False, now_ms=to_ms(now))
    site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)], now)
    state = case_work.case_state(session, site, case_id)
    return WalkIn(case_id, number, query_code, state.state.value)


def check_walk_in(body: Mapping[str, Any], now: datetime, uploaded: Sequence[str] = ()
                  ) -> tuple[CheckedApplication, list[Reuse]]:
    """A walk-in's application checked as every desk checks it
    (:func:`~shared.domain.application.check_application`, and the materials taken from the
    certificate store; ``uploaded`` names the materials scanned with it), ready for
    :func:`write_walk_in`. :class:`Problems` names every bad field. ``body`` has the
    :class:`CaseBodySchema` keys."""
    checked, problems = check_application(services().catalogue, body["item_code"],
                                          body["applicant"], body["form"], body["delivery"],
                                          now)
    reuse: list[Reuse] = []
    if checked is not None:
        reuse, reuse_problems = check_reuse(checked.item, body.get("reuse", ()),
                                            bool(body.get("reuse_consent", False)), uploaded)
        problems.update(reuse_problems)
    if checked is None or problems:
        raise Problems(problems, "the application is not complete or not valid")
    return checked, reuse


@bp.post("/cases")
@require_user("agent", "admin")
def register_walk_in() -> tuple[Response, int]:
    key = idempotency_key()
    body = load_body(CaseBodySchema())

    def write(session: Session, now: datetime) -> dict[str, Any]:
        checked, reuse = check_walk_in(body, now)
        return write_walk_in(session, checked, body["delivery"], f"agent:{g.claims.username}",
                             now, reuse=reuse).as_dict()

    # an application without reuse keeps the fingerprint it had before reuse existed
    return registered_once(key, {k: v for k, v in body.items()
                                 if body["reuse"] or k not in ("reuse", "reuse_consent")}, write)


def answer_once(session: Session, record_key: str, fingerprinted: Any,
                write: Callable[[Session, datetime], Any]) -> tuple[Any, bool]:
    """``write``'s answer, committed here with a record of it under ``record_key``, and
    True; or the answer recorded the first time and False, when the same application came
    with this key before. Submissions of one key are serialised (a lock row taken first), so
    a double click that arrives while the first is being written waits for it and gets its
    answer instead of writing a second case. :class:`StateConflict` when the key was used
    for a different application; everything is rolled back when ``write`` raises."""
    digest = request_digest(fingerprinted)
    try:
        sync_store.next_counter(session, f"once:{record_key}")  # held until the commit
        first = answer_given(session, record_key, digest)
        if first is not None:
            session.rollback()
            return first, False
        result = write(session, services().clock())
        remember_answer(session, record_key, digest, result)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result, True


def registered_once(key: str, fingerprinted: Any,
                    write: Callable[[Session, datetime], Any]) -> tuple[Response, int]:
    """Answer ``write``'s registration (committed here) with 201, or the first answer again
    (200) when this user's ``key`` was used for the same application before."""
    result, new = answer_once(get_session(), f"idem:{g.claims.username}:{key}", fingerprinted,
                              write)
    return jsonify(result), 201 if new else 200


class OneFormBodySchema(Schema):
    class Meta:
        unknown = RAISE

    composite = fields.String(required=True, validate=validate.Length(min=1, max=16))
    applicant = fields.Dict(required=True)
    form = fields.Dict(load_default=dict)
    delivery = fields.String(load_default="window", validate=validate.OneOf(DELIVERIES))


@bp.post("/bundles")
@require_user("agent", "admin")
def register_one_form() -> tuple[Response, int]:
    """A one-form application (一表制) at the hub's desk: one case per part, written and
    routed in one transaction, under one parent number and one query code."""
    key = idempotency_key()
    body = load_body(OneFormBodySchema())

    def write(session: Session, now: datetime) -> dict[str, Any]:
        checked, problems = check_one_form(services().catalogue, body["composite"],
                                           body["applicant"], body["form"], body["delivery"],
                                           now)
        if checked is None:
            raise Problems(problems, "the application is not complete or not valid")
        bundle = BundleRef(uuid.uuid4(), checked.composite.code, next_acceptance_no(session, now),
                           tuple(part.item.code for part in checked.parts))
        query_code = new_query_code()
        parts = [write_walk_in(session, part, body["delivery"], f"agent:{g.claims.username}",
                               now, bundle=bundle, query_code=query_code)
                 for part in checked.parts]
        return {"bundle_id": str(bundle.id), "acceptance_no": bundle.acceptance_no,
                "query_code": query_code,
                "cases": [{"case_id": str(p.case_id), "acceptance_no": p.acceptance_no,
                           "state": p.state} for p in parts]}

    return registered_once(key, {"one_form": body}, write)


@bp.get("/bundles/<bundle_id>")
@require_user("agent", "admin", "supervisor")
def show_one_form(bundle_id: str) -> Response:
    """The parent of a one-form application: complete when every part is closed."""
    session = get_session()
    wanted = parse_bundle_id(bundle_id)
    ids = session.scalars(select(HubCase.case_id).where(HubCase.bundle_id == wanted)).all()
    ref, status = parent_status(session, services().sync_site, wanted, ids)
    return jsonify(parent_api_dict(ref, status))
