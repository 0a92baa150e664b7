"""Applying online (网上申报): an applicant's draft, its pre-check, its submission as a case,
and the answer to a supplement request — all into the same flow as a case registered at a
village or at the city hall's desk.

A draft keeps the form's answers, the delivery chosen and the scans uploaded so far (each in
the hub's blob store, sealed at rest), so an applicant on a slow link never uploads a scan
twice. The pre-check (:func:`precheck`) runs the desk's checks
(:func:`shared.domain.application.check_application`) and adds every required material not
uploaded yet: it says what is missing before anything is submitted. Submitting writes the
``registered`` event with :func:`hub.front_desk.write_walk_in` as ``applicant:online-<id>``,
so the hub's hooks route it, start its deadlines and put it under supervision like any other.

A supplement request (一次性告知) is answered online as a village agent answers it: each
scan is a ``material_added`` event, and once every material asked for is here,
``supplement_provided`` follows; the hub's hooks carry both where the case is decided.

A courier delivery needs the address the result is sent to (:func:`courier_problems`); it is
recorded with the registration as a ``courier_address_given`` event of the applicant (its
payload sealed at rest like every payload) and may be changed on the case's page until the
result is issued (:func:`change_courier_address`): the last one given stands.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.front_desk import WalkIn, next_acceptance_no, write_walk_in
from hub.models import HubCase
from hub.online_hall_models import OnlineCase, OnlineDraft
from hub.services import HubServices
from shared.deciding import case_work
from shared.domain.application import (
    CheckedApplication,
    CheckedOneForm,
    check_application,
    check_one_form,
    new_query_code,
)
from shared.domain.case_bundles import BundleRef
from shared.domain.case_events import CaseEvent, EventActor, EventDraft, EventType, Role
from shared.domain.case_state import CaseState, apply, fold, refused_keys
from shared.domain.catalogue import ServiceItem
from shared.domain.certificates import check_reuse
from shared.domain.composites import OneFormView
from shared.domain.delivery import COURIER_FIELDS, courier_address, latest_courier_address
from shared.domain.errors import InvalidInput, NotFound, Problems, StateConflict
from shared.storage import sync_store
from shared.storage.scan_uploads import CheckedFile
from sync_protocol.times import to_ms

ONLINE_DELIVERIES = ("window", "courier")
"""How an online applicant takes the result: collected at the window, or by courier."""


def applicant_actor(account_id: int) -> EventActor:
    """Who the log says acted: the account, in the applicant role."""
    return EventActor(f"online-{account_id}", Role.APPLICANT)


@dataclass
class Draft:
    """An application being filled in: answers, delivery and the scans uploaded so far."""

    form: dict[str, str] = field(default_factory=dict)
    delivery: str = "window"
    materials: list[dict[str, Any]] = field(default_factory=list)
    reuse: list[dict[str, str]] = field(default_factory=list)
    """Materials taken from the certificate store by reference (证照库): ``material_code``
    and ``ref``, as the applicant ticked them."""
    consent: bool = False
    """The applicant agreed to the reuse (recorded with the registration)."""
    courier: dict[str, str] = field(default_factory=dict)
    """The courier address as typed (``name``, ``phone``, ``area``, ``address``)."""

    def held_codes(self) -> set[str]:
        return {str(m["code"]) for m in self.materials}

    def add(self, files: Sequence[CheckedFile]) -> None:
        """Keep each scan once (the same file again is not a second copy)."""
        known = {(m["code"], m["sha256"]) for m in self.materials}
        for f in files:
            if (f.material_code, f.sha256) not in known:
                known.add((f.material_code, f.sha256))
                self.materials.append({"code": f.material_code, "sha256": f.sha256,
                                       "size": f.size, "media_type": f.media_type})

    def drop(self, code: str) -> None:
        self.materials = [m for m in self.materials if m["code"] != code]


DRAFT_PREFIX = "online_draft:"
SUBMITTED_PREFIX = "online_submitted:"


def _draft_key(account_id: int, item_code: str) -> str:
    return f"{DRAFT_PREFIX}{account_id}:{item_code}"


def load_draft(session: Session, hub: HubServices, account_id: int, item_code: str, *,
               lock: bool = False) -> Draft:
    key = _draft_key(account_id, item_code)
    held = sync_store.read_state(session, key, lock=lock)
    if not held:
        return Draft()
    value = hub.payload_sealer.open(held, key)
    if not value:
        return Draft()
    return Draft(dict(value["form"]), str(value["delivery"]), list(value["materials"]),
                 list(value.get("reuse", [])), bool(value.get("consent", False)),
                 dict(value.get("courier", {})))


def save_draft(session: Session, hub: HubServices, account_id: int, item_code: str,
               draft: Draft | None, now: datetime) -> None:
    """Keep the draft (sealed: it holds personal data) and when it was saved, which the
    retention run counts from (:mod:`hub.online_hall_retention`); None deletes it."""
    key = _draft_key(account_id, item_code)
    if draft is None:
        delete_drafts(session, [(account_id, item_code)])
        return
    value = {"form": draft.form, "delivery": draft.delivery, "materials": draft.materials,
             "reuse": draft.reuse, "consent": draft.consent, "courier": draft.courier}
    sync_store.write_state(session, key, hub.payload_sealer.seal(value, key))
    touched = session.get(OnlineDraft, (account_id, item_code))
    if touched is None:
        session.add(OnlineDraft(account_id=account_id, code=item_code, touched_ms=to_ms(now)))
    else:
        touched.touched_ms = to_ms(now)


def delete_drafts(session: Session, drafts: Sequence[tuple[int, str]]) -> None:
    """Delete these ``(account id, item code)`` drafts and their record (not committed)."""
    for account_id, code in drafts:
        session.execute(delete(sync_store.SyncState).where(
            sync_store.SyncState.key == _draft_key(account_id, code)))
        session.execute(delete(OnlineDraft).where(OnlineDraft.account_id == account_id,
                                                  OnlineDraft.code == code))


def store_scans(hub: HubServices, files: Sequence[CheckedFile]) -> None:
    for f in files:
        hub.blobs.put(f.data)


NOT_BY_COURIER = "only when the result goes by courier: clear it, or choose the courier"


def courier_problems(delivery: str, typed: Mapping[str, str]
                     ) -> tuple[dict[str, str] | None, dict[str, str]]:
    """The courier address the delivery needs, and every problem of it named
    (``courier.<field>``): required with the courier, refused with any other delivery."""
    if delivery == "courier":
        try:
            return courier_address(typed), {}
        except Problems as exc:
            return None, dict(exc.fields)
    return None, {f"courier.{k}": NOT_BY_COURIER for k in COURIER_FIELDS
                  if str(typed.get(k, "")).strip()}


def precheck(hub: HubServices, item: ServiceItem, applicant: Mapping[str, Any], draft: Draft,
             now: datetime) -> tuple[CheckedApplication | None, dict[str, str]]:
    """The application as the desk checks it, plus each required material neither uploaded
    nor taken from the certificate store (``file.<code>``): every problem at once, before
    submitting."""
    checked, problems = check_application(hub.catalogue, item.code, applicant, draft.form,
                                          draft.delivery, now)
    if draft.delivery not in ONLINE_DELIVERIES:
        problems["delivery"] = f"must be one of {', '.join(ONLINE_DELIVERIES)}"
    _, reuse_problems = check_reuse(item, draft.reuse, draft.consent, draft.held_codes())
    problems.update(reuse_problems)
    problems.update(courier_problems(draft.delivery, draft.courier)[1])
    held = draft.held_codes() | {r["material_code"] for r in draft.reuse}
    for material in item.materials:
        if material.required and material.code not in held:
            problems[f"file.{material.code}"] = "required: not uploaded yet"
    return (checked if not problems else None), problems


def precheck_one_form(hub: HubServices, view: OneFormView, applicant: Mapping[str, Any],
                      draft: Draft, now: datetime
                      ) -> tuple[CheckedOneForm | None, dict[str, str]]:
    """:func:`precheck` for a one-form application (一表制): the merged form and every
    material any part requires."""
    checked, problems = check_one_form(hub.catalogue, view.code, applicant, draft.form,
                                       draft.delivery, now)
    if draft.delivery not in ONLINE_DELIVERIES:
        problems["delivery"] = f"must be one of {', '.join(ONLINE_DELIVERIES)}"
    problems.update(courier_problems(draft.delivery, draft.courier)[1])
    held = draft.held_codes()
    for material in view.materials:
        if material.required and material.code not in held:
            problems[f"file.{material.code}"] = "required: not uploaded yet"
    return (checked if not problems else None), problems


def _submitted_key(account_id: int, submit_key: str) -> str:
    return f"{SUBMITTED_PREFIX}{account_id}:{submit_key}"


def submitted_case(session: Session, account_id: int, submit_key: str) -> uuid.UUID | None:
    """The case a form with ``submit_key`` registered already (a double click, a reload of
    the answer), if any."""
    held = sync_store.read_state(session, _submitted_key(account_id, submit_key))
    return uuid.UUID(bytes=bytes(held)) if held else None


def submit(session: Session, hub: HubServices, account_id: int, item: ServiceItem | OneFormView,
           applicant: Mapping[str, Any], now: datetime, submit_key: str = "") -> WalkIn:
    """Register the account's draft for ``item`` as a case and empty the draft; commits.
    ``submit_key`` (the form's own random key) is remembered with the case, so the same
    form sent twice registers once (:func:`submitted_case`). :class:`Problems` when the
    pre-check finds anything (nothing is written then); :class:`StateConflict` when there
    is no draft (submitted already)."""
    draft = load_draft(session, hub, account_id, item.code, lock=True)
    if submit_key and submitted_case(session, account_id, submit_key) is not None:
        save_draft(session, hub, account_id, item.code, None, now)  # the twin's copy
        session.commit()
        raise StateConflict("submit_key", "this form was submitted already")
    if not draft.form and not draft.materials:
        session.rollback()
        raise StateConflict("draft", "nothing to submit: it was submitted already")
    checked: CheckedApplication | CheckedOneForm | None
    if isinstance(item, OneFormView):
        checked, problems = precheck_one_form(hub, item, applicant, draft, now)
    else:
        checked, problems = precheck(hub, item, applicant, draft, now)
    if checked is None:
        session.rollback()
        raise Problems(problems, "the application is not complete or not valid")
    try:
        parts = _write_parts(session, hub, checked, draft, account_id, now)
        address, _ = courier_problems(draft.delivery, draft.courier)
        if address is not None:  # checked by the pre-check above
            for part in parts:
                _record(session, hub, part.case_id, [_address_given(account_id, address, now)],
                        now)
        for part in parts:
            session.add(OnlineCase(case_id=part.case_id, account_id=account_id,
                                   query_code=hub.payload_sealer.seal(
                                       part.query_code, f"online_case:{part.case_id}"),
                                   submitted_ms=to_ms(now)))
        written = parts[0]
        save_draft(session, hub, account_id, item.code, None, now)
        if submit_key:
            sync_store.write_state(session, _submitted_key(account_id, submit_key),
                                   written.case_id.bytes)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return written


def _write_parts(session: Session, hub: HubServices,
                 checked: CheckedApplication | CheckedOneForm, draft: Draft,
                 account_id: int, now: datetime) -> list[WalkIn]:
    """The case of an application, or one case per part of a one-form application under one
    parent number and one query code, each with the scans its own item asks for."""
    actor = applicant_actor(account_id).to_wire()
    if isinstance(checked, CheckedApplication):
        reuse, _ = check_reuse(checked.item, draft.reuse, draft.consent, draft.held_codes())
        return [write_walk_in(session, checked, draft.delivery, actor, now,
                              scans=draft.materials, reuse=reuse)]
    bundle = BundleRef(uuid.uuid4(), checked.composite.code, next_acceptance_no(session, now),
                       tuple(part.item.code for part in checked.parts))
    query_code = new_query_code()
    return [write_walk_in(session, part, draft.delivery, actor, now, bundle=bundle,
                          query_code=query_code,
                          scans=[m for m in draft.materials
                                 if part.item.material(str(m["code"])) is not None])
            for part in checked.parts]


@dataclass(frozen=True)
class OnlineCaseView:
    """One of the account's cases as its holder sees it."""

    case_id: uuid.UUID
    acceptance_no: str
    query_code: str
    item_code: str
    state: CaseState
    events: list[CaseEvent]
    due_ms: int | None


def own_case(session: Session, hub: HubServices, account_id: int,
             case_id: uuid.UUID) -> OnlineCaseView:
    """The case if this account submitted it; :class:`NotFound` otherwise (another
    account's case is not said to exist)."""
    link = session.get(OnlineCase, case_id)
    row = session.get(HubCase, case_id)
    if link is None or link.account_id != account_id or row is None:
        raise NotFound("case", "no such case of yours")
    events = case_work.case_events(session, hub.sync_site, case_id)
    code = hub.payload_sealer.open(link.query_code, f"online_case:{case_id}")
    return OnlineCaseView(case_id, row.acceptance_no or "", str(code), row.item_code,
                          fold(events), events, row.due_ms)


def own_cases(session: Session, account_id: int) -> list[HubCase]:
    """The account's cases, newest first, as the hub's projection holds them."""
    ids = select(OnlineCase.case_id).where(OnlineCase.account_id == account_id)
    return list(session.scalars(select(HubCase).where(HubCase.case_id.in_(ids))
                                .order_by(HubCase.registered_ms.desc())))


def _answered_since_request(events: Sequence[CaseEvent]) -> set[str]:
    """The materials added after the last supplement request."""
    codes: set[str] = set()
    for event in events:
        if event.type is EventType.SUPPLEMENT_REQUESTED:
            codes.clear()
        elif event.type is EventType.MATERIAL_ADDED:
            codes.add(str(event.payload.get("code")))
    return codes


def provide_supplement(session: Session, hub: HubServices, account_id: int,
                       case_id: uuid.UUID, files: Sequence[CheckedFile],
                       now: datetime) -> bool:
    """Add the scans answering the case's supplement request; once every material asked
    for is here, record ``supplement_provided``. Commits; True when the supplement is
    complete. :class:`StateConflict` when no supplement is asked for;
    :class:`InvalidInput` for a scan of a material not asked for."""
    case = own_case(session, hub, account_id, case_id)
    state = case.state
    if state.stage != "awaiting_supplement":
        raise StateConflict("case", "no supplement is asked for now")
    missing = list(state.missing)
    for f in files:
        if f.material_code not in missing:
            raise InvalidInput(f"file.{f.material_code}", "this material was not asked for")
    if not files:
        raise InvalidInput("file", "choose the scans the window asked for")
    actor = applicant_actor(account_id)
    drafts = [EventDraft(EventType.MATERIAL_ADDED, actor, now,
                         {"code": f.material_code, "sha256": f.sha256, "size": f.size,
                          "media_type": f.media_type}) for f in files]
    answered = _answered_since_request(case.events) | {f.material_code for f in files}
    complete = set(missing) <= answered
    if complete:
        drafts.append(EventDraft(EventType.SUPPLEMENT_PROVIDED, actor, now,
                                 {"provided": sorted(missing)}))
    for draft in drafts:
        state = apply(state, draft)  # a state that no longer allows it: StateConflict
    store_scans(hub, files)
    try:
        _record(session, hub, case_id, drafts, now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return complete


def _record(session: Session, hub: HubServices, case_id: uuid.UUID,
            drafts: Sequence[EventDraft], now: datetime) -> None:
    """Author the applicant's events as the hub's and hand them to the hub's hooks, which
    carry them where the case is decided (not committed)."""
    site = hub.sync_site
    events = sync_store.author_events(
        session, site.key, site.sealer,
        [sync_store.OwnEvent(case_id, d.actor.to_wire(), d.type.value, d.payload,
                             to_ms(d.at)) for d in drafts],
        epoch=site.epoch, up=False, now_ms=to_ms(now))
    site.hooks.events_arrived(session, events, now)


def _address_given(account_id: int, address: Mapping[str, str], now: datetime) -> EventDraft:
    return EventDraft(EventType.COURIER_ADDRESS_GIVEN, applicant_actor(account_id), now,
                      {"recipient": dict(address)})


def registered_delivery(events: Sequence[CaseEvent]) -> str:
    """How the applicant chose to take the result, as registered."""
    first = next((e for e in events if e.type is EventType.REGISTERED), None)
    return str(first.payload.get("delivery", "")) if first is not None else ""


def courier_address_of(events: Sequence[CaseEvent]) -> dict[str, str] | None:
    """The address the result is to be sent to: the last one given and not refused."""
    refused = refused_keys(events)
    return latest_courier_address((e.type.value, e.payload) for e in events
                                  if e.key not in refused)


def change_courier_address(session: Session, hub: HubServices, account_id: int,
                           case_id: uuid.UUID, typed: Mapping[str, str],
                           now: datetime) -> dict[str, str]:
    """Record a new courier address for the account's case; commits and returns it.
    :class:`Problems` naming each bad field; :class:`StateConflict` when the result does not
    go by courier or is issued already (the hand-over uses the address then)."""
    case = own_case(session, hub, account_id, case_id)
    if registered_delivery(case.events) != "courier":
        raise StateConflict("delivery", "the result is not sent by courier")
    address, problems = courier_problems("courier", typed)
    if address is None:
        raise Problems(problems, "the courier address is not complete")
    draft = _address_given(account_id, address, now)
    apply(case.state, draft)  # issued already: StateConflict, nothing written
    try:
        _record(session, hub, case_id, [draft], now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return address
