"""The events of a case's log and the people (and timers) who author them.

A case is an append-only list of :class:`CaseEvent` records. Each record checks itself when it
is built, so a record that exists is well formed: its type is known, its time is aware UTC and
its payload has what its type needs (a rejection carries a written reason, a supplement request
lists every missing material). Whether the event may happen *now* is the state machine's
question (:mod:`shared.domain.case_state`); this module only knows what a well-formed event is.

Event type names are stable: they are stored, signed, sent between sites and listed by the API.
"""

from __future__ import annotations

import copy
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.domain.consultations import check_answered, check_recorded
from shared.domain.delivery import check_courier_address, check_handover
from shared.domain.errors import InvalidInput
from shared.domain.fees import check_assessed, check_paid, check_receipt_no, check_refunded
from shared.domain.rating import check_rated


class EventType(StrEnum):
    """Every event a case's log may hold (past tense: each records something that happened)."""

    REGISTERED = "registered"  # 登记: the application is registered at its origin
    MATERIAL_ADDED = "material_added"  # a late scan, or one answering a supplement request
    REGISTRATION_CORRECTED = "registration_corrected"  # a registration error put right
    WITHDRAWN = "withdrawn"  # 撤件: the applicant withdrew the application
    RECEIVED = "received"  # the receipt of a deciding site ("received by the city")
    REFERRED = "referred"  # 全城通办: sent on to the office competent for the applicant's area
    ROUTED = "routed"  # placed in the queue of the window authorised for the item
    TRANSFERRED = "transferred"  # 转办: handed to another window
    CLAIMED = "claimed"  # one operator takes the case so no one else works it meanwhile
    CLAIM_RELEASED = "claim_released"
    REASSIGNED = "reassigned"  # a supervisor moves the claim to another operator
    ACCEPTED = "accepted"  # 受理: the deadline starts
    COPIES_SENT = "copies_sent"  # 抄告相关: a joint case goes to every co-approving department
    SUPPLEMENT_REQUESTED = "supplement_requested"  # 一次性告知 of everything missing
    SUPPLEMENT_PROVIDED = "supplement_provided"
    REVIEWED = "reviewed"  # 审: the reviewer's approval (the "approve" action)
    CHECKED = "checked"  # 核: a second operator confirms: the case is approved
    REJECTED = "rejected"  # 退回: refused, with a written reason
    REPORTED_UP = "reported_up"  # 上报: sent to the deciding authority's queue
    EXTERNAL_DECISION_RECORDED = "external_decision_recorded"
    CO_APPROVED = "co_approved"  # a co-approving department agrees
    OBJECTED = "objected"  # a co-approving department objects, with a reason
    DEEMED_CONSENT = "deemed_consent"  # 缺席默许: a department that did not answer agrees
    DEEMED_APPROVED = "deemed_approved"  # 超时许可: not decided in time, deemed approved
    RESULT_ISSUED = "result_issued"  # the result document exists
    RESULT_HANDED_OVER = "result_handed_over"  # 转交: the citizen has the result
    RATED = "rated"  # 好差评
    REFUSED = "refused"  # the owner's answer to an event that arrived too late
    ERASED = "erased"  # its retention period over, the case's personal data were deleted
    DEADLINE_SET = "deadline_set"  # the deciding site's live deadline after the clock resumed
    SIGNALLED = "signalled"  # 电子监察: a warning or a yellow or red card
    URGED = "urged"  # 催办: a supervisor presses the window to act
    CARD_APPEALED = "card_appealed"  # the window contests a yellow or red card, with a reason
    CARD_RULED = "card_ruled"  # the supervisor upholds or withdraws the contested card
    SPECIAL_PROCEDURE_STARTED = "special_procedure_started"  # 特别程序: the clock stops
    SPECIAL_PROCEDURE_ENDED = "special_procedure_ended"  # the clock runs again
    EXTENSION_REQUESTED = "extension_requested"  # 延期: asked once, with a reason
    EXTENSION_DECIDED = "extension_decided"  # the department head approves or refuses it
    RECTIFICATION_OPENED = "rectification_opened"  # 差评整改: a bad rating opens one
    RECTIFICATION_ANSWERED = "rectification_answered"  # the department says what it put right
    CALLBACK_RECORDED = "callback_recorded"  # 回访: the applicant was called back
    FEES_ASSESSED = "fees_assessed"  # 收费: the fees by the catalogue's standard, at acceptance
    FEE_PAID = "fee_paid"  # 以票控费: paid at the finance window against a numbered receipt
    RECEIPT_VOIDED = "receipt_voided"  # the receipt voided, with a reason
    FEE_REFUNDED = "fee_refunded"  # a refund, with a reason and its approver
    CONSULTATION_RECORDED = "consultation_recorded"  # 咨询投诉: a question or complaint
    CONSULTATION_ANSWERED = "consultation_answered"  # the assigned department's answer
    COURIER_ADDRESS_GIVEN = "courier_address_given"  # where the result goes by courier


class Role(StrEnum):
    """Who may author an event. ``system`` is a site acting on its own (receipts, timers)."""

    AGENT = "agent"
    WINDOW_OPERATOR = "window_operator"
    FINANCE = "finance"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DEPARTMENT_HEAD = "department_head"  # 分管负责人: approves a window's extension requests
    APPLICANT = "applicant"  # 网上服务大厅: applicants applying online with their own account
    SYSTEM = "system"


class Kind(StrEnum):
    """The six kinds of case (六件六制)."""

    IMMEDIATE = "immediate"  # 即办件
    PROMISED = "promised"  # 承办件
    JOINT = "joint"  # 联办件
    REPORT_UP = "report_up"  # 上报件
    SUPPLEMENT = "supplement"  # 补办件
    RETURNED = "returned"  # 退回件


ITEM_KINDS = frozenset({Kind.IMMEDIATE, Kind.PROMISED, Kind.JOINT, Kind.REPORT_UP})


class Rating(StrEnum):
    """The five levels of the national 好差评 scheme."""

    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    VERY_DISSATISFIED = "very_dissatisfied"


class Decision(StrEnum):
    """What an external authority decided about a reported-up case."""

    APPROVED = "approved"
    REJECTED = "rejected"


TIERS = ("province", "city", "county", "township", "village")
DECIDING_TIERS = ("province", "city", "county", "township")
SIGNAL_KINDS = ("warning", "yellow_card", "red_card")
"""Signals in rising order of gravity (a red card outranks a yellow one)."""
CARD_RULINGS = ("upheld", "withdrawn")
SIGNAL_RULES = ("time_share", "one_day_left", "promised_passed", "legal_passed",
                "no_review_check", "skipped_step", "refusal_without_reason",
                "fee_off_standard", "fee_mismatch")
"""Why a signal was raised: the share of the promised time used (or one working day left),
the promised or the legal deadline passed, or a violation found in a decision."""
CALLBACK_OUTCOMES = ("satisfied", "not_satisfied", "unreachable")
"""How the call-back to an applicant who rated a case badly went (回访结果)."""
SPECIAL_PROCEDURES = ("hearing", "expert_review", "inspection", "public_notice")
"""特别程序 whose time the law leaves out of a time limit: 听证, 专家评审, 检验检测检疫,
公示 (行政许可法 第四十五条)."""
MAX_EXTENSION_DAYS = 60
"""An extension asks for at most this many working days (the law's usual grant is 10 or
15; the bound only stops a slip of the keyboard)."""
MIN_REASON_LENGTH = 5
"""A written reason shorter than this (after trimming) is not a clear answer."""
MAX_TEXT_LENGTH = 2000
MAX_COMMENT_LENGTH = 500
MAX_NAME_LENGTH = 80

_SITE_CODE = re.compile(r"\d{6}(?:\d{3}){0,2}")
_USERNAME = re.compile(r"[^\s:]{1,64}")


def check_site_code(value: object, field_name: str) -> str:
    """A site code: 6, 9 or 12 digits (administrative division style)."""
    if not isinstance(value, str) or not _SITE_CODE.fullmatch(value):
        raise InvalidInput(field_name, "must be a site code of 6, 9 or 12 digits")
    return value


def check_username(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not _USERNAME.fullmatch(value):
        raise InvalidInput(field_name, "1-64 characters, no spaces or colons")
    return value


def check_aware_utc(value: object, field_name: str) -> datetime:
    """An aware datetime, converted to UTC; a naive one is refused, never guessed."""
    if not isinstance(value, datetime):
        raise InvalidInput(field_name, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field_name, "must be timezone-aware")
    return value.astimezone(UTC)


def check_reason(value: object, field_name: str = "reason") -> str:
    """A clear written reason: at least :data:`MIN_REASON_LENGTH` characters once trimmed."""
    if not isinstance(value, str):
        raise InvalidInput(field_name, "a written reason is required")
    text = value.strip()
    if len(text) < MIN_REASON_LENGTH:
        raise InvalidInput(
            field_name, f"a clear written reason of at least {MIN_REASON_LENGTH} characters"
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(field_name, f"at most {MAX_TEXT_LENGTH} characters")
    return text


@dataclass(frozen=True, slots=True)
class EventActor:
    """Who authored an event, as the log records it: a username and the role acted in."""

    username: str
    role: Role

    def __post_init__(self) -> None:
        check_username(self.username, "actor.username")
        object.__setattr__(self, "role", parse_role(self.role))

    def to_wire(self) -> str:
        """``role:username``, the actor string the sync layer carries."""
        return f"{self.role.value}:{self.username}"

    @classmethod
    def from_wire(cls, text: str) -> EventActor:
        role, sep, username = text.partition(":")
        if not sep:
            raise InvalidInput("actor", "expected role:username")
        return cls(username, parse_role(role))


def parse_role(value: object) -> Role:
    """A role from its name; :class:`InvalidInput` naming the roles otherwise."""
    try:
        return Role(str(value))
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput("actor.role", f"must be one of {names}") from None


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in person (or a site's timer) about to act, with where they sit.

    ``tier`` is the tier of the actor's site. ``window`` is required for window operators and
    finance staff; ``department`` is the department whose work a window operator does (it
    decides which copy of a joint case is theirs).
    """

    username: str
    role: Role
    site: str
    tier: str
    window: str | None = None
    department: str | None = None

    def __post_init__(self) -> None:
        event_actor = EventActor(self.username, self.role)
        object.__setattr__(self, "role", event_actor.role)
        check_site_code(self.site, "actor.site")
        if self.tier not in TIERS:
            raise InvalidInput("actor.tier", f"must be one of {', '.join(TIERS)}")
        if self.role in (Role.WINDOW_OPERATOR, Role.FINANCE) and not self.window:
            raise InvalidInput("actor.window", f"a {self.role} works at a window")
        if self.role is Role.DEPARTMENT_HEAD and not self.department:
            raise InvalidInput("actor.department", "a department head heads a department")

    @property
    def as_event_actor(self) -> EventActor:
        return EventActor(self.username, self.role)


# -- payload rules ----------------------------------------------------------------------------

Payload = dict[str, Any]


def _json_value(value: object, where: str, depth: int = 0) -> None:
    if depth > 16:
        raise InvalidInput(where, "nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(where, "numbers must be finite")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _json_value(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(where, "keys must be strings")
            _json_value(item, f"{where}.{key}", depth + 1)
        return
    raise InvalidInput(where, f"not a JSON value: {type(value).__name__}")


def _text(payload: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = payload.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"payload.{key}", "required text")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"payload.{key}", f"at most {MAX_TEXT_LENGTH} characters")


def _choice(payload: Mapping[str, Any], key: str, choices: Sequence[str]) -> None:
    if payload.get(key) not in choices:
        raise InvalidInput(f"payload.{key}", f"must be one of {', '.join(choices)}")


def _codes(payload: Mapping[str, Any], key: str, *, at_least: int = 1) -> None:
    value = payload.get(key)
    where = f"payload.{key}"
    if not isinstance(value, list | tuple) or len(value) < at_least:
        raise InvalidInput(where, f"a list of at least {at_least} code(s)")
    seen: set[str] = set()
    for i, code in enumerate(value):
        if not isinstance(code, str) or not code.strip():
            raise InvalidInput(f"{where}[{i}]", "a non-empty code")
        if code in seen:
            raise InvalidInput(f"{where}[{i}]", f"{code} is listed twice")
        seen.add(code)


def _registered(p: Mapping[str, Any]) -> None:
    _text(p, "item_code")
    _text(p, "window")
    _choice(p, "kind", sorted(ITEM_KINDS))


def _material_added(p: Mapping[str, Any]) -> None:
    _text(p, "code")


def _registration_corrected(p: Mapping[str, Any]) -> None:
    changes = p.get("changes")
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput("payload.changes", "name at least one corrected field")
    check_reason(p.get("reason"), "payload.reason")


def _received(p: Mapping[str, Any]) -> None:
    _choice(p, "tier", DECIDING_TIERS)


def _referred(p: Mapping[str, Any]) -> None:
    check_site_code(p.get("to"), "payload.to")
    check_site_code(p.get("area"), "payload.area")
    _text(p, "reason")
    if p.get("handover") is not None:  # the station the applicant collects the result at
        check_site_code(p.get("handover"), "payload.handover")


def _routed(p: Mapping[str, Any]) -> None:
    _text(p, "window")
    check_site_code(p.get("site"), "payload.site")


def _transferred(p: Mapping[str, Any]) -> None:
    _text(p, "to_window")
    check_site_code(p.get("to_site"), "payload.to_site")
    check_reason(p.get("reason"), "payload.reason")


def _reassigned(p: Mapping[str, Any]) -> None:
    to = p.get("to")
    if to is not None:
        check_username(to, "payload.to")


def _accepted(p: Mapping[str, Any]) -> None:
    _choice(p, "kind", sorted(ITEM_KINDS))


def _copies_sent(p: Mapping[str, Any]) -> None:
    _codes(p, "departments", at_least=2)


def _supplement_requested(p: Mapping[str, Any]) -> None:
    _codes(p, "missing")
    check_reason(p.get("reason"), "payload.reason")


def _rejected(p: Mapping[str, Any]) -> None:
    check_reason(p.get("reason"), "payload.reason")


def _reported_up(p: Mapping[str, Any]) -> None:
    _text(p, "authority")


def _external_decision(p: Mapping[str, Any]) -> None:
    _choice(p, "outcome", [d.value for d in Decision])
    _text(p, "authority")
    if p.get("outcome") == Decision.REJECTED:
        check_reason(p.get("reason"), "payload.reason")


def _department(p: Mapping[str, Any]) -> None:
    _text(p, "department")


def _objected(p: Mapping[str, Any]) -> None:
    _text(p, "department")
    check_reason(p.get("reason"), "payload.reason")


def _handed_over(p: Mapping[str, Any]) -> None:
    check_handover(p)


def _rated(p: Mapping[str, Any]) -> None:
    check_rated(p)


def _refused(p: Mapping[str, Any]) -> None:
    ref = p.get("refused")
    if not isinstance(ref, Mapping):
        raise InvalidInput("payload.refused", "the refused event's origin, epoch and seq")
    check_site_code(ref.get("origin"), "payload.refused.origin")
    for key in ("epoch", "seq"):
        value = ref.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(f"payload.refused.{key}", "a whole number from 1")
    _choice(p, "event_type", [t.value for t in EventType])
    _text(p, "reason")


def _erased(p: Mapping[str, Any]) -> None:
    check_reason(p.get("reason"), "payload.reason")
    _text(p, "policy")


def _instant(p: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = p.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"payload.{key}", "an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"payload.{key}", "an ISO 8601 time") from None
    if at.tzinfo is None:
        raise InvalidInput(f"payload.{key}", "must carry its UTC offset")


def _deadline_set(p: Mapping[str, Any]) -> None:
    _instant(p, "deadline")
    _instant(p, "legal_deadline", required=False)
    _instant(p, "warn_at", required=False)
    _text(p, "cause")


def _signalled(p: Mapping[str, Any]) -> None:
    _choice(p, "kind", SIGNAL_KINDS)
    _choice(p, "rule", SIGNAL_RULES)
    check_reason(p.get("reason"), "payload.reason")
    _instant(p, "due", required=False)


def _special_procedure_started(p: Mapping[str, Any]) -> None:
    _choice(p, "procedure", SPECIAL_PROCEDURES)
    check_reason(p.get("reason"), "payload.reason")


def _special_procedure_ended(p: Mapping[str, Any]) -> None:
    _choice(p, "procedure", SPECIAL_PROCEDURES)


def _days(p: Mapping[str, Any], low: int) -> int:
    value = p.get("days")
    if (not isinstance(value, int) or isinstance(value, bool)
            or not low <= value <= MAX_EXTENSION_DAYS):
        raise InvalidInput("payload.days", f"whole working days, {low} to {MAX_EXTENSION_DAYS}")
    return value


def _extension_requested(p: Mapping[str, Any]) -> None:
    _days(p, 1)
    check_reason(p.get("reason"), "payload.reason")


def _extension_decided(p: Mapping[str, Any]) -> None:
    """An approval grants one or more days (its reason is optional); a refusal grants none
    and says why."""
    approved = p.get("approved")
    if not isinstance(approved, bool):
        raise InvalidInput("payload.approved", "true or false")
    if approved:
        _days(p, 1)
        _text(p, "reason", required=False)
    else:
        if _days(p, 0) != 0:
            raise InvalidInput("payload.days", "a refusal grants 0 days")
        check_reason(p.get("reason"), "payload.reason")


def _reason_only(p: Mapping[str, Any]) -> None:
    check_reason(p.get("reason"), "payload.reason")


def _event_key(p: Mapping[str, Any], key: str) -> None:
    ref = p.get(key)
    if not isinstance(ref, Mapping):
        raise InvalidInput(f"payload.{key}", "the event's origin, epoch and seq")
    check_site_code(ref.get("origin"), f"payload.{key}.origin")
    for part in ("epoch", "seq"):
        value = ref.get(part)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(f"payload.{key}.{part}", "a whole number from 1")


def _card_appealed(p: Mapping[str, Any]) -> None:
    _event_key(p, "card")
    check_reason(p.get("reason"), "payload.reason")


def _card_ruled(p: Mapping[str, Any]) -> None:
    _event_key(p, "card")
    _choice(p, "ruling", CARD_RULINGS)
    check_reason(p.get("reason"), "payload.reason")


def _rectification_opened(p: Mapping[str, Any]) -> None:
    _text(p, "department")
    _instant(p, "due")


def _callback_recorded(p: Mapping[str, Any]) -> None:
    _choice(p, "outcome", CALLBACK_OUTCOMES)
    _text(p, "note", required=False)


def _receipt_voided(p: Mapping[str, Any]) -> None:
    check_receipt_no(p.get("receipt_no"))
    check_reason(p.get("reason"), "payload.reason")


def _fee_refunded(p: Mapping[str, Any]) -> None:
    check_refunded(p)
    check_reason(p.get("reason"), "payload.reason")


def _nothing(p: Mapping[str, Any]) -> None:
    """Types whose payload is free (it may carry notes, document references, deadlines)."""


PAYLOAD_RULES: Mapping[EventType, Any] = {
    EventType.REGISTERED: _registered,
    EventType.MATERIAL_ADDED: _material_added,
    EventType.REGISTRATION_CORRECTED: _registration_corrected,
    EventType.WITHDRAWN: _nothing,
    EventType.RECEIVED: _received,
    EventType.REFERRED: _referred,
    EventType.ROUTED: _routed,
    EventType.TRANSFERRED: _transferred,
    EventType.CLAIMED: _nothing,
    EventType.CLAIM_RELEASED: _nothing,
    EventType.REASSIGNED: _reassigned,
    EventType.ACCEPTED: _accepted,
    EventType.COPIES_SENT: _copies_sent,
    EventType.SUPPLEMENT_REQUESTED: _supplement_requested,
    EventType.SUPPLEMENT_PROVIDED: _nothing,
    EventType.REVIEWED: _nothing,
    EventType.CHECKED: _nothing,
    EventType.REJECTED: _rejected,
    EventType.REPORTED_UP: _reported_up,
    EventType.EXTERNAL_DECISION_RECORDED: _external_decision,
    EventType.CO_APPROVED: _department,
    EventType.OBJECTED: _objected,
    EventType.DEEMED_CONSENT: _department,
    EventType.DEEMED_APPROVED: _nothing,
    EventType.RESULT_ISSUED: _nothing,
    EventType.RESULT_HANDED_OVER: _handed_over,
    EventType.RATED: _rated,
    EventType.REFUSED: _refused,
    EventType.ERASED: _erased,
    EventType.DEADLINE_SET: _deadline_set,
    EventType.SIGNALLED: _signalled,
    EventType.URGED: _reason_only,
    EventType.CARD_APPEALED: _card_appealed,
    EventType.CARD_RULED: _card_ruled,
    EventType.SPECIAL_PROCEDURE_STARTED: _special_procedure_started,
    EventType.SPECIAL_PROCEDURE_ENDED: _special_procedure_ended,
    EventType.EXTENSION_REQUESTED: _extension_requested,
    EventType.EXTENSION_DECIDED: _extension_decided,
    EventType.RECTIFICATION_OPENED: _rectification_opened,
    EventType.RECTIFICATION_ANSWERED: _reason_only,  # what was found and put right
    EventType.CALLBACK_RECORDED: _callback_recorded,
    EventType.FEES_ASSESSED: check_assessed,
    EventType.FEE_PAID: check_paid,
    EventType.RECEIPT_VOIDED: _receipt_voided,
    EventType.FEE_REFUNDED: _fee_refunded,
    EventType.CONSULTATION_RECORDED: check_recorded,
    EventType.CONSULTATION_ANSWERED: check_answered,
    EventType.COURIER_ADDRESS_GIVEN: check_courier_address,
}
"""What each event type's payload must hold; checked whenever a record or draft is built."""


def check_payload(event_type: EventType, payload: object) -> Payload:
    """A private deep copy of ``payload`` once it is JSON and fits ``event_type``."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("payload", "must be a mapping")
    _json_value(payload, "payload")
    checked = copy.deepcopy(dict(payload))
    PAYLOAD_RULES[event_type](checked)
    return checked


def _event_type(value: object) -> EventType:
    try:
        return EventType(str(value))
    except ValueError:
        raise InvalidInput("type", f"unknown event type {value!r}") from None


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event decided on but not yet stamped with its place in the origin's chain.

    The window workflow returns drafts; the storage layer gives each the origin's next
    ``seq`` with :meth:`stamp` when it appends them.
    """

    type: EventType
    actor: EventActor
    at: datetime
    payload: Payload = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _event_type(self.type))
        if not isinstance(self.actor, EventActor):
            raise InvalidInput("actor", "must be an EventActor")
        object.__setattr__(self, "at", check_aware_utc(self.at, "at"))
        object.__setattr__(self, "payload", check_payload(self.type, self.payload))

    def stamp(self, case_id: str, origin: str, epoch: int, seq: int) -> CaseEvent:
        """The record of this draft as event ``seq`` of ``(origin, epoch)``."""
        return CaseEvent(case_id, origin, epoch, seq, self.type, self.actor, self.at, self.payload)


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One event of a case's log, as stored and exchanged.

    ``(origin, epoch, seq)`` is the event's key, the same at every site; ``at`` is the origin's
    (corrected) clock in UTC.
    """

    case_id: str
    origin: str
    epoch: int
    seq: int
    type: EventType
    actor: EventActor
    at: datetime
    payload: Payload = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "case_id", check_case_id(self.case_id))
        check_site_code(self.origin, "origin")
        for name in ("epoch", "seq"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(name, "a whole number from 1")
        object.__setattr__(self, "type", _event_type(self.type))
        if not isinstance(self.actor, EventActor):
            raise InvalidInput("actor", "must be an EventActor")
        object.__setattr__(self, "at", check_aware_utc(self.at, "at"))
        object.__setattr__(self, "payload", check_payload(self.type, self.payload))

    @classmethod
    def from_store(cls, case_id: str, origin: str, epoch: int, seq: int, type: EventType,
                   actor: EventActor, at: datetime, payload: Payload) -> CaseEvent:
        """An event read back from the site's own store, whose columns were checked on the
        way in and whose payload was just parsed from JSON (so it is JSON, and nobody else
        holds it): only the payload's rules are checked, without the copy. Folding a batch's
        cases reads thousands of these."""
        PAYLOAD_RULES[type](payload)
        event = object.__new__(cls)
        for name, value in (("case_id", case_id), ("origin", origin), ("epoch", epoch),
                            ("seq", seq), ("type", type), ("actor", actor), ("at", at),
                            ("payload", payload)):
            object.__setattr__(event, name, value)
        return event

    @property
    def key(self) -> tuple[str, int, int]:
        """``(origin, epoch, seq)``: the event's identity at every site."""
        return (self.origin, self.epoch, self.seq)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``at`` as ISO 8601 UTC)."""
        return {
            "case_id": self.case_id,
            "origin": self.origin,
            "epoch": self.epoch,
            "seq": self.seq,
            "type": self.type.value,
            "actor": {"username": self.actor.username, "role": self.actor.role.value},
            "at": self.at.isoformat(),
            "payload": copy.deepcopy(self.payload),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseEvent:
        """The inverse of :meth:`to_dict`; any missing or bad field is an :class:`InvalidInput`."""
        try:
            actor = data["actor"]
            at = datetime.fromisoformat(data["at"])
            return cls(
                case_id=data["case_id"],
                origin=data["origin"],
                epoch=data["epoch"],
                seq=data["seq"],
                type=data["type"],
                actor=EventActor(actor["username"], parse_role(actor["role"])),
                at=at,
                payload=data.get("payload", {}),
            )
        except KeyError as exc:
            raise InvalidInput(str(exc.args[0]), "required") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInput("event", f"malformed: {exc}") from None


def check_case_id(value: object) -> str:
    """A case id: a UUID in its canonical lower-case form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            pass
        else:
            if str(parsed) == value.lower():
                return str(parsed)
    raise InvalidInput("case_id", "must be a UUID")
