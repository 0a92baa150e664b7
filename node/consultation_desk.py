"""Consultations and complaints at a node (咨询投诉): the ones this site holds, and at a
township or county the answer of the department that has a window here.

A node keeps no ledger of its own: its signed event store is the record. The consultations it
holds are the ``consultation_recorded`` events in it (recorded here, come up from the sites
below, or come down on the log of a case); each one's answer is the first
``consultation_answered`` event naming it that this site holds, its deadline the one the hub
sets (:func:`shared.domain.consultations.answer_due`, by this site's copy of the calendar).

Who sees which:

- the site's ``agent``: those recorded at this site (to give the person the answer);
- at a township or county, a department's staff (a ``window_operator`` of one of its windows
  here, its ``department_head``): those of their department that this site may answer —
  recorded here or below, or on the log of a case this site decides — and they answer them;
- a ``supervisor`` or ``admin``: all of those, read only.

Anyone else, and staff of another department, get 404: its existence is not told.

Answering authors ``consultation_answered`` here with the same payload as the hub's
(:func:`shared.domain.consultations.answered_payload`): it goes up with the next exchange
(the hub's ledger counts it) and down toward the site that recorded it. A consultation this
site holds an answer to is answered (409); one the hub answered while the answer was not here
yet is answered twice in the log, and the first answer in the hub's order is the one counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from node.case_log import corrected_now
from node.db_session import get_session
from node.models import NodeWindowCase
from node.services import services
from shared.deciding import case_work
from shared.domain.case_events import EventActor, EventDraft, EventType, Role
from shared.domain.catalogue import Catalogue, SiteTier
from shared.domain.consultations import answer_due, answered_key, answered_payload
from shared.domain.errors import DomainError, NotFound, StateConflict
from shared.domain.working_days import SHANGHAI, WorkingDayCalendar
from shared.exchange.site import SyncSite
from shared.exchange.tree import child_toward, site_parents
from shared.storage.accounts import Claims
from shared.storage.sync_store import PayloadSealer, SyncEvent, open_payload
from shared.web.consultation_forms import AnswerSchema
from shared.web.error_responses import error_response, flatten_messages
from shared.web.i18n import Messages, add_messages
from sync_protocol import case_id_for

RECORDED = EventType.CONSULTATION_RECORDED.value
ANSWERED = EventType.CONSULTATION_ANSWERED.value
ANSWERERS = ("window_operator", "department_head")
READERS = ("agent", *ANSWERERS, "supervisor", "admin")
LIST_LIMIT = 500
"""The newest consultations a list shows (a site takes few; an older one is still found by
its id)."""
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class HeldConsultation:
    """One consultation as this site holds it: the recording event's facts and words, and
    the first answer held here."""

    origin: str
    epoch: int
    seq: int
    log_id: uuid.UUID
    kind: str
    channel: str
    department: str
    acceptance_no: str | None
    item_code: str | None
    recorded_at: datetime
    due: datetime
    text: str | None
    name: str | None
    phone: str | None
    answered_at: datetime | None = None
    answered_by: str | None = None
    answer: str | None = None

    @property
    def id(self) -> uuid.UUID:
        return case_id_for(self.origin, self.epoch, self.seq)

    @property
    def case_id(self) -> uuid.UUID | None:
        """The case it concerns (None: a log of its own)."""
        return None if self.log_id == self.id else self.log_id

    def overdue(self, now: datetime) -> bool:
        """Past its deadline unanswered, or answered after it."""
        return (self.answered_at or now) > self.due

    def summary(self) -> dict[str, Any]:
        """The hub's list shape (``GET /api/v1/consultations``)."""
        return {"id": str(self.id), "kind": self.kind, "channel": self.channel,
                "department": self.department, "origin": self.origin,
                "case_id": str(self.case_id) if self.case_id else None,
                "acceptance_no": self.acceptance_no, "item_code": self.item_code,
                "recorded_at": self.recorded_at.isoformat(), "due": self.due.isoformat(),
                "answered_at": self.answered_at.isoformat() if self.answered_at else None,
                "answered_by": self.answered_by,
                "status": "answered" if self.answered_at is not None else "open"}

    def details(self) -> dict[str, Any]:
        """The hub's one-consultation shape: the list's facts, the words and the answer."""
        return {**self.summary(), "text": self.text, "name": self.name, "phone": self.phone,
                "answer": self.answer}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _held(session: Session, sealer: PayloadSealer, calendar: WorkingDayCalendar,
          recorded: Sequence[SyncEvent]) -> list[HeldConsultation]:
    """The consultations ``recorded`` opens, each with the first answer held here."""
    logs = sorted({r.case_id for r in recorded})
    answers: dict[tuple[str, int, int], tuple[SyncEvent, dict[str, Any]]] = {}
    for start in range(0, len(logs), _CHUNK):
        for row in session.scalars(select(SyncEvent).where(
                SyncEvent.case_id.in_(logs[start:start + _CHUNK]),
                SyncEvent.type == ANSWERED).order_by(SyncEvent.id)):
            payload = open_payload(row, sealer)
            key = answered_key(payload)
            if key is not None and key not in answers:  # the first one held here counts
                answers[key] = (row, payload)
    found: list[HeldConsultation] = []
    for row in recorded:
        p = open_payload(row, sealer)
        kind = str(p.get("kind", ""))
        if kind not in ("consultation", "complaint") or not p.get("department"):
            continue
        answered = answers.get((row.origin, row.epoch, row.seq))
        found.append(HeldConsultation(
            origin=row.origin, epoch=row.epoch, seq=row.seq, log_id=row.case_id, kind=kind,
            channel=str(p.get("channel", "")), department=str(p["department"]),
            acceptance_no=_text(p.get("acceptance_no")), item_code=_text(p.get("item_code")),
            recorded_at=row.at, due=answer_due(calendar, kind, row.at),
            text=_text(p.get("text")), name=_text(p.get("name")), phone=_text(p.get("phone")),
            answered_at=answered[0].at if answered else None,
            answered_by=answered[0].actor if answered else None,
            answer=_text(answered[1].get("answer")) if answered else None))
    return found


def departments_here(catalogue: Catalogue, tier: str) -> set[str]:
    """The departments with a window at every site of ``tier`` (none at a village)."""
    try:
        site_tier = SiteTier(tier)
    except ValueError:
        return set()
    return {w.department for w in catalogue.windows_at(site_tier)}


def may_answer(claims: Claims | None, catalogue: Catalogue, tier: str, department: str) -> bool:
    """The department's own staff at this site: its head, or an operator of one of its
    windows here; only for a department with a window at this site."""
    if claims is None or department not in departments_here(catalogue, tier):
        return False
    if claims.role == "department_head":
        return claims.department == department
    if claims.role == "window_operator" and claims.window:
        try:
            window = catalogue.window(claims.window)
        except DomainError:
            return False
        return window.department == department and window.site_tier.value == tier
    return False


@dataclass(frozen=True)
class Desk:
    """What the views need of the site: who it is, its catalogue and calendar."""

    site: SyncSite
    tier: str
    catalogue: Catalogue
    calendar: WorkingDayCalendar

    def answerable_here(self, session: Session, held: Iterable[HeldConsultation]
                        ) -> set[uuid.UUID]:
        """Of ``held``, the ids this site may answer: assigned to a department with a window
        here, and recorded here or below, or on the log of a case this site decides."""
        departments = departments_here(self.catalogue, self.tier)
        wanted = [c for c in held if c.department in departments]
        if not wanted:
            return set()
        code = self.site.code
        parents = site_parents(session)
        cases = sorted({c.log_id for c in wanted if c.case_id is not None})
        decided: set[uuid.UUID] = set()
        for start in range(0, len(cases), _CHUNK):
            decided.update(session.scalars(select(NodeWindowCase.case_id).where(
                NodeWindowCase.case_id.in_(cases[start:start + _CHUNK]),
                NodeWindowCase.owner_site == code)))
        return {c.id for c in wanted
                if c.origin == code or child_toward(parents, code, c.origin) is not None
                or c.log_id in decided}

    def visible(self, session: Session, claims: Claims | None,
                held: Sequence[HeldConsultation]) -> list[HeldConsultation]:
        """Of ``held``, what ``claims`` may see (none signed in: the PC's own agent)."""
        role = claims.role if claims is not None else "agent"
        here = self.site.code
        if role == "agent":
            return [c for c in held if c.origin == here]
        scoped = self.answerable_here(session, held)
        if role in ("supervisor", "admin"):
            return [c for c in held if c.id in scoped or c.origin == here]
        return [c for c in held if c.id in scoped
                and may_answer(claims, self.catalogue, self.tier, c.department)]

    def listing(self, session: Session, claims: Claims | None, *, status: str | None
                ) -> list[HeldConsultation]:
        """The newest consultations held here that ``claims`` may see, newest first."""
        recorded = list(session.scalars(select(SyncEvent).where(SyncEvent.type == RECORDED)
                                        .order_by(SyncEvent.id.desc()).limit(LIST_LIMIT)))
        held = self.visible(session, claims, _held(session, self.site.sealer, self.calendar,
                                                   recorded))
        if status == "open":
            return [c for c in held if c.answered_at is None]
        if status == "answered":
            return [c for c in held if c.answered_at is not None]
        return held

    def find(self, session: Session, claims: Claims | None, consultation_id: uuid.UUID
             ) -> HeldConsultation:
        """One consultation ``claims`` may see; :class:`NotFound` otherwise (the same for
        one that does not exist)."""
        # its id derives from the recording event. One about no case opens a log of its
        # own under that id (an indexed look-up); one on a case's log is found by reading
        # the recording events' columns and opening one payload
        own_log = select(SyncEvent.id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq).where(
            SyncEvent.type == RECORDED, SyncEvent.case_id == consultation_id)
        every = select(SyncEvent.id, SyncEvent.origin, SyncEvent.epoch, SyncEvent.seq).where(
            SyncEvent.type == RECORDED)
        match = next((k.id for query in (own_log, every) for k in session.execute(query)
                      if case_id_for(k.origin, k.epoch, k.seq) == consultation_id), None)
        row = session.get(SyncEvent, match) if match is not None else None
        held = _held(session, self.site.sealer, self.calendar, [row]) if row else []
        seen = self.visible(session, claims, held)
        if not seen:
            raise NotFound("consultation", "no such consultation for your department")
        return seen[0]

    def answer(self, session: Session, claims: Claims | None, consultation_id: uuid.UUID,
               text: object, now: datetime) -> HeldConsultation:
        """Author the department's answer here (not committed): up with the next exchange,
        and down toward the site that recorded it (about a case: the site that registered
        it). Another department's, or one this site may not answer, is not found; one
        answered already (as far as this site knows) is a conflict."""
        found = self.find(session, claims, consultation_id)
        if (claims is None or found.id not in self.answerable_here(session, [found])
                or not may_answer(claims, self.catalogue, self.tier, found.department)):
            raise NotFound("consultation", "no such consultation for your department")
        if found.answered_at is not None:
            raise StateConflict("consultation", "answered already")
        payload = answered_payload(found.origin, found.epoch, found.seq, text)
        at = corrected_now(session, self.site, now)
        draft = EventDraft(EventType.CONSULTATION_ANSWERED,
                           EventActor(claims.username, Role(claims.role)), at, payload)
        authored = case_work.append_drafts(
            session, self.site, found.log_id, [draft], now,
            origin=None if found.case_id is not None else found.origin)
        self.site.hooks.events_arrived(session, authored, now)
        return replace(found, answered_at=at, answered_by=draft.actor.to_wire(),
                       answer=payload["answer"])


def _desk() -> Desk:
    node = services()
    return Desk(node.sync_site, str(node.settings.tier.value), node.catalogue,
                node.held_calendar.current())


def _claims() -> Claims | None:
    found: Claims | None = g.get("claims")
    return found


def _parse_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("consultation", "no such consultation for your department") from None


def _answer(consultation_id: str, text: object) -> HeldConsultation:
    node = services()
    session = get_session()
    try:
        done = _desk().answer(session, _claims(), _parse_id(consultation_id), text,
                              node.clock())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    node.nudge_sync()
    return done


def _shown(at: datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at is not None else ""


def _due_day(due: datetime) -> str:
    """The last day to answer (the deadline is the end of that day in Shanghai)."""
    return (due.astimezone(SHANGHAI) - timedelta(seconds=1)).date().isoformat()


def blueprint(*, answering: bool) -> Blueprint:
    """The list, one consultation and, at a site with windows (``answering``), the answer:
    ``/consultations`` and ``/api/v1/consultations[/<id>[/answer]]``."""
    bp = Blueprint("consultation_desk", __name__)

    @bp.get("/api/v1/consultations")
    def list_api() -> Response:
        status = request.args.get("status")
        if status not in (None, "open", "answered"):
            return error_response(400, "invalid", "bad status", {"status": "open or answered"})
        held = _desk().listing(get_session(), _claims(), status=status)
        return jsonify({"consultations": [c.summary() for c in held]})

    @bp.get("/api/v1/consultations/<consultation_id>")
    def show_api(consultation_id: str) -> Response:
        found = _desk().find(get_session(), _claims(), _parse_id(consultation_id))
        return jsonify(found.details())

    @bp.get("/consultations")
    def page() -> tuple[str, int]:
        return _page(answering, answered=request.args.get("answered", "")), 200

    if answering:
        @bp.post("/api/v1/consultations/<consultation_id>/answer")
        def answer_api(consultation_id: str) -> Response:
            body = AnswerSchema().load(request.get_json(silent=True) or {})
            return jsonify(_answer(consultation_id, body["answer"]).summary())

        @bp.post("/consultations/<consultation_id>/answer")
        def answer_page(consultation_id: str) -> BaseResponse | tuple[str, int]:
            try:
                body = AnswerSchema().load(request.form)
                done = _answer(consultation_id, body["answer"])
            except ValidationError as exc:
                return _page(answering, problems=flatten_messages(exc.messages),
                             target=consultation_id), 400
            except DomainError as exc:
                return _page(answering, problems=exc.fields, target=consultation_id), \
                    exc.http_status
            return redirect(url_for(".page", answered=str(done.id)), 303)

    @bp.record_once
    def _texts(state: Any) -> None:
        add_messages(state.app, MESSAGES)

    return bp


def _page(answering: bool, *, answered: str = "", problems: dict[str, str] | None = None,
          target: str = "") -> str:
    node = services()
    desk = _desk()
    session = get_session()
    claims = _claims()
    held = desk.listing(session, claims, status=None)
    now = node.clock()
    answerable = ({c.id for c in held if c.answered_at is None
                   and may_answer(claims, desk.catalogue, desk.tier, c.department)}
                  if answering else set())
    rows = [{**c.details(), "recorded_at": _shown(c.recorded_at),
             "answered_at": _shown(c.answered_at), "due": _due_day(c.due),
             "late": c.overdue(now), "can_answer": c.id in answerable} for c in held]
    return render_template("consultations.html", rows=rows, problems=problems or {},
                           target=target, answered=answered, answering=answering)


MESSAGES: Messages = {
    "ndesk.title": ("咨询投诉答复", "Questions & complaints: answers"),
    "ndesk.intro": ("本站登记的咨询投诉及其答复;乡镇、县级中心的部门窗口人员和分管负责人"
                    "在此答复本部门的咨询投诉。",
                    "What was recorded here and its answer; at a township or county centre the "
                    "department's window staff and head answer their department's here."),
    "ndesk.record": ("登记咨询投诉", "Record one"),
    "ndesk.none": ("没有咨询投诉", "None"),
    "ndesk.number": ("编号", "Number"), "ndesk.kind": ("类别", "Kind"),
    "ndesk.department": ("答复部门", "Department"), "ndesk.about": ("涉及", "About"),
    "ndesk.recorded": ("登记时间", "Recorded"), "ndesk.due": ("答复期限", "Answer due"),
    "ndesk.status": ("状态", "Status"), "ndesk.open": ("待答复", "Open"),
    "ndesk.answered": ("已答复", "Answered"), "ndesk.overdue": ("已超期", "Overdue"),
    "ndesk.answer": ("答复", "Answer"), "ndesk.send": ("提交答复", "Send the answer"),
    "ndesk.done": ("已答复,随下次同步上报", "Answered; it goes up with the next exchange"),
    "ndesk.consultation": ("咨询", "Question"), "ndesk.complaint": ("投诉", "Complaint"),
    "ndesk.list": ("咨询投诉及答复", "Recorded and answered"),
}
