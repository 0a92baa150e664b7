"""Consultations and complaints at the hub (咨询投诉): recorded at its desks and online form,
kept in a ledger from the events of every site, answered by the assigned department.

Recording authors a ``consultation_recorded`` event: on the case's log when it is about a
case (so it shows in that case's history and travels with it), else as the first event of a
log of its own whose id derives from that event. Whatever site recorded it, the event reaches
the hub through the exchange and :func:`keep` writes the ledger row in the same transaction,
with the answer deadline in working days (:data:`shared.domain.consultations.ANSWER_DAYS`)
by the hub's calendar. Answering authors ``consultation_answered`` on the same log; an answer
authored at a township's or county's own site (:mod:`node.consultation_desk`) comes up the
exchange and is kept the same way: the first answer in the hub's order counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.consultation_models import HubConsultation
from hub.models import HubCase
from shared.deciding import case_work
from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.catalogue import Catalogue
from shared.domain.consultations import (
    Recorded,
    answer_due,
    answered_key,
    answered_payload,
    recorded_payload,
)
from shared.domain.errors import (
    DomainError,
    NotFound,
    NotPermitted,
    StateConflict,
)
from shared.domain.working_days import WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.exchange.tree import send_all_down
from shared.storage import sync_store
from shared.storage.accounts import Claims
from shared.storage.case_ids import reserve_case_id
from sync_protocol import Event, case_id_for
from sync_protocol.times import from_ms, to_ms

RECORDED = EventType.CONSULTATION_RECORDED.value
ANSWERED = EventType.CONSULTATION_ANSWERED.value


def keep(session: Session, events: Sequence[Event], calendar: WorkingDayCalendar) -> None:
    """The ledger rows of the consultations ``events`` record or answer (each at most once:
    an event that comes again changes nothing)."""
    for event in events:
        if event.type == RECORDED:
            _keep_recorded(session, event, calendar)
        elif event.type == ANSWERED:
            key = answered_key(event.payload)
            row = session.get(HubConsultation, case_id_for(*key)) if key else None
            # the first answer in the hub's order counts (the hub's own, or one authored at
            # a township's or county's site and come up); a second one authored elsewhere
            # while the two were apart stays in the log, not counted again
            if row is not None and row.answered_ms is None:
                row.answered_ms, row.answered_by = to_ms(event.at), event.actor[:80]


def _keep_recorded(session: Session, event: Event, calendar: WorkingDayCalendar) -> None:
    own_id = case_id_for(event.origin, event.epoch, event.seq)
    if session.get(HubConsultation, own_id) is not None:
        return
    p: dict[str, Any] = dict(event.payload)
    on_case = event.case_id != own_id
    acceptance_no = p.get("acceptance_no")
    if on_case and not acceptance_no:
        acceptance_no = session.scalar(select(HubCase.acceptance_no)
                                       .where(HubCase.case_id == event.case_id))
    session.add(HubConsultation(
        id=own_id, log_id=event.case_id, origin=event.origin, epoch=event.epoch,
        seq=event.seq, case_id=event.case_id if on_case else None,
        acceptance_no=acceptance_no, item_code=p.get("item_code"), kind=str(p["kind"]),
        channel=str(p["channel"]), department=str(p["department"]),
        recorded_ms=to_ms(event.at),
        due_ms=to_ms(answer_due(calendar, str(p["kind"]), event.at))))
    session.flush()


def record(session: Session, site: SyncSite, catalogue: Catalogue,
           calendar: WorkingDayCalendar, body: dict[str, Any], actor: str,
           now: datetime) -> Recorded:
    """Author the recording event at the hub and keep its ledger row (not committed).
    ``body`` as the API takes it; a bad field raises naming it."""
    case = None
    problems: dict[str, str] = {}
    if body.get("acceptance_no"):
        case = session.scalar(select(HubCase).where(
            HubCase.acceptance_no == str(body["acceptance_no"]).strip()))
        if case is None:
            problems["acceptance_no"] = "no case with this acceptance number"
    payload = recorded_payload(catalogue, body, case.item_code if case is not None else None,
                               problems)
    if case is not None:
        payload["acceptance_no"] = case.acceptance_no
        log_id = case.case_id
    else:
        log_id = reserve_case_id(session, site.code, site.epoch)
    row = sync_store.author_event(
        session, site.key, site.sealer, epoch=site.epoch, case_id=log_id, actor=actor,
        type=RECORDED, payload=payload, at_ms=to_ms(now), up=False, now_ms=to_ms(now))
    event = sync_store.as_event(row, site.sealer)
    if case is not None:  # down the case's way, so the site deciding it holds it too
        send_all_down(session, site, [(event, None)], now)
    site.hooks.events_arrived(session, [event], now)
    own = case_id_for(event.origin, event.epoch, event.seq)
    kept = session.get(HubConsultation, own)
    assert kept is not None  # the hooks keep it (hub.ingest)
    return Recorded(own, case.case_id if case else None, kept.department,
                    from_ms(kept.due_ms))


def may_answer(claims: Claims, catalogue: Catalogue, department: str) -> bool:
    """The department's own staff: its head, or an operator of one of its windows."""
    if claims.role == "department_head":
        return claims.department == department
    if claims.role == "window_operator" and claims.window:
        try:
            return catalogue.window(claims.window).department == department
        except DomainError:
            return False
    return False


def answer(session: Session, site: SyncSite, catalogue: Catalogue, consultation_id: uuid.UUID,
           text: object, claims: Claims, now: datetime) -> HubConsultation:
    """Author the department's answer (not committed). Another department's consultation is
    not found (its existence is not told); one answered already is a conflict."""
    row = session.get(HubConsultation, consultation_id)
    if row is None or not may_answer(claims, catalogue, row.department):
        raise NotFound("consultation", "no such consultation for your department")
    if row.answered_ms is not None:
        raise StateConflict("consultation", "answered already")
    payload = answered_payload(row.origin, row.epoch, row.seq, text)
    # sent down toward the site that recorded it (about a case: the site that registered
    # the case, the only node that records on its log), so its station and a deciding site
    # on the way hold the answer in the log too
    draft = EventDraft(EventType.CONSULTATION_ANSWERED,
                       EventActor(claims.username, Role(claims.role)), now, payload)
    authored = case_work.append_drafts(session, site, row.log_id, [draft], now,
                                       origin=None if row.case_id is not None else row.origin)
    site.hooks.events_arrived(session, authored, now)
    return row


def details(session: Session, site: SyncSite, row: HubConsultation) -> dict[str, Any]:
    """A consultation as its department and the supervisor see it: the ledger's facts and
    the words of its events (opened from the store)."""
    events = [e for e in sync_store.case_rows(session, row.log_id)
              if e.type in (RECORDED, ANSWERED)]
    text = name = phone = answer_text = None
    for e in events:
        p = sync_store.open_payload(e, site.sealer)
        if (e.origin, e.epoch, e.seq) == (row.origin, row.epoch, row.seq):
            text, name, phone = p.get("text"), p.get("name"), p.get("phone")
        elif (e.type == ANSWERED and answer_text is None  # the first answer counts
              and answered_key(p) == (row.origin, row.epoch, row.seq)):
            answer_text = p.get("answer")
    return {**summary(row), "text": text, "name": name, "phone": phone,
            "answer": answer_text}


def summary(row: HubConsultation) -> dict[str, Any]:
    return {"id": str(row.id), "kind": row.kind, "channel": row.channel,
            "department": row.department, "origin": row.origin,
            "case_id": str(row.case_id) if row.case_id else None,
            "acceptance_no": row.acceptance_no, "item_code": row.item_code,
            "recorded_at": from_ms(row.recorded_ms).isoformat(),
            "due": from_ms(row.due_ms).isoformat(),
            "answered_at": from_ms(row.answered_ms).isoformat() if row.answered_ms else None,
            "answered_by": row.answered_by,
            "status": "answered" if row.answered_ms is not None else "open"}


def listing(session: Session, claims: Claims, catalogue: Catalogue, *, status: str | None,
            limit: int = 200) -> list[HubConsultation]:
    """The consultations a user sees: a supervisor or admin every department's, the
    department's staff their own; newest first."""
    query = select(HubConsultation).order_by(HubConsultation.recorded_ms.desc()).limit(limit)
    if status == "open":
        query = query.where(HubConsultation.answered_ms.is_(None))
    elif status == "answered":
        query = query.where(HubConsultation.answered_ms.is_not(None))
    if claims.role not in ("supervisor", "admin"):
        departments = {d.code for d in catalogue.departments
                       if may_answer(claims, catalogue, d.code)}
        if not departments:
            raise NotPermitted("role", "only a department's staff or a supervisor")
        query = query.where(HubConsultation.department.in_(departments))
    return list(session.scalars(query))
