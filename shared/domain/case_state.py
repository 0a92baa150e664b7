"""The case state machine: every transition of a case lives in this module.

Two rules shape it. First, the machine is a set of dict tables (:data:`TRANSITIONS`,
:data:`EVENT_ROLES`, :data:`EVENT_TIERS`, :data:`CLAIM_REQUIRED`); the docs' table is generated
from them by :func:`transition_table_markdown`. Second, the machine knows nothing of the
catalogue: whether a window may *decide* an item is the window workflow's question
(:mod:`shared.domain.window_workflow`); here we only ask whether an event may follow in this state,
by this role, and whether it keeps the case's own invariants (one claim holder, a checker who
is not the reviewer, one supplement notice, every co-approving department answering once).

:func:`apply` folds one event into a :class:`CaseState`; an illegal event raises
:class:`~shared.domain.errors.StateConflict` or :class:`~shared.domain.errors.NotPermitted` and,
the state
being immutable, leaves it unchanged. :func:`fold` folds a whole log (the owner's order), and
skips the events the owner answered with a ``refused`` event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shared.domain.case_events import (
    DECIDING_TIERS,
    TIERS,
    Actor,
    CaseEvent,
    EventActor,
    EventDraft,
    EventType,
    Kind,
    Rating,
    Role,
)
from shared.domain.errors import InvalidInput, NotPermitted, StateConflict
from shared.domain.rating import BAD_RATINGS


class Status(StrEnum):
    """Where a case is in its life. ``new`` is the empty log before registration."""

    NEW = "new"
    REGISTERED = "registered"  # at its origin, on its way to the deciding site
    RECEIVED = "received"  # a deciding site holds it and has sent its receipt
    ROUTED = "routed"  # in the queue of a window, not yet accepted (pre-check)
    AWAITING_SUPPLEMENT = "awaiting_supplement"  # told what is missing before acceptance
    ACCEPTED = "accepted"  # 受理: the deadline runs; under review
    PAUSED_FOR_SUPPLEMENT = "paused_for_supplement"  # after acceptance; the clock is stopped
    REVIEWED = "reviewed"  # the reviewer approved; awaiting check, report-up or hand-on
    JOINT_APPROVAL = "joint_approval"  # copies with every co-approving department
    REPORTED_UP = "reported_up"  # in the deciding authority's queue
    DECIDED = "decided"  # approved or rejected; the result document is next
    RESULT_ISSUED = "result_issued"  # the result is on its way back to the origin
    HANDED_OVER = "handed_over"  # the citizen has the result
    WITHDRAWN = "withdrawn"  # 撤件: closed at the applicant's request


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class JointAnswer(StrEnum):
    """How one co-approving department answered a joint case."""

    APPROVED = "approved"
    OBJECTED = "objected"
    DEEMED_CONSENT = "deemed_consent"


S = Status
E = EventType

_BEFORE_ACCEPTANCE = {
    E.MATERIAL_ADDED: None,  # None: stays in the same state
    E.REGISTRATION_CORRECTED: None,
    E.WITHDRAWN: S.WITHDRAWN,
}
_CLAIMS = {E.CLAIMED: None, E.CLAIM_RELEASED: None, E.REASSIGNED: None}
_ADDRESS = {E.COURIER_ADDRESS_GIVEN: None}
"""The applicant gives (or changes) the courier's address until the result is issued."""
_RECTIFICATION = {E.RECTIFICATION_OPENED: None, E.RECTIFICATION_ANSWERED: None,
                  E.CALLBACK_RECORDED: None}
"""差评整改: a bad rating's rectification, opened, answered and called back after the result."""

_TABLE: dict[Status, dict[EventType, Status | None]] = {
    S.NEW: {E.REGISTERED: S.REGISTERED},
    # 全城通办: the site that finds the competent office below it refers the case there
    S.REGISTERED: {**_BEFORE_ACCEPTANCE, **_ADDRESS, E.REFERRED: None, E.RECEIVED: S.RECEIVED,
                   E.ROUTED: S.ROUTED},
    S.RECEIVED: {**_BEFORE_ACCEPTANCE, **_ADDRESS, E.ROUTED: S.ROUTED},
    S.ROUTED: {
        **_BEFORE_ACCEPTANCE,
        **_CLAIMS,
        **_ADDRESS,
        E.TRANSFERRED: S.ROUTED,
        E.ACCEPTED: S.ACCEPTED,
        E.SUPPLEMENT_REQUESTED: S.AWAITING_SUPPLEMENT,
        E.REJECTED: S.DECIDED,  # 不予受理, with a written reason
    },
    S.AWAITING_SUPPLEMENT: {**_BEFORE_ACCEPTANCE, **_ADDRESS, E.SUPPLEMENT_PROVIDED: S.ROUTED},
    S.ACCEPTED: {
        **_CLAIMS,
        **_ADDRESS,
        E.MATERIAL_ADDED: None,
        E.WITHDRAWN: S.WITHDRAWN,
        E.TRANSFERRED: S.ROUTED,
        E.COPIES_SENT: S.JOINT_APPROVAL,
        E.SUPPLEMENT_REQUESTED: S.PAUSED_FOR_SUPPLEMENT,
        E.REVIEWED: S.REVIEWED,
        E.REJECTED: S.DECIDED,
        E.DEEMED_APPROVED: S.DECIDED,
    },
    S.PAUSED_FOR_SUPPLEMENT: {
        **_ADDRESS,
        E.MATERIAL_ADDED: None,
        E.WITHDRAWN: S.WITHDRAWN,
        E.SUPPLEMENT_PROVIDED: S.ACCEPTED,
    },
    S.REVIEWED: {
        **_CLAIMS,
        **_ADDRESS,
        E.MATERIAL_ADDED: None,
        E.WITHDRAWN: S.WITHDRAWN,
        E.CHECKED: S.DECIDED,
        E.REJECTED: S.DECIDED,
        E.REPORTED_UP: S.REPORTED_UP,
        E.TRANSFERRED: S.ROUTED,
        E.DEEMED_APPROVED: S.DECIDED,
    },
    S.JOINT_APPROVAL: {
        **_ADDRESS,
        E.MATERIAL_ADDED: None,
        E.WITHDRAWN: S.WITHDRAWN,
        E.CO_APPROVED: None,  # decided once every department has answered
        E.OBJECTED: None,
        E.DEEMED_CONSENT: None,
    },
    S.REPORTED_UP: {
        **_CLAIMS,
        **_ADDRESS,
        E.MATERIAL_ADDED: None,
        E.WITHDRAWN: S.WITHDRAWN,
        E.EXTERNAL_DECISION_RECORDED: S.DECIDED,
    },
    S.DECIDED: {**_CLAIMS, **_ADDRESS, E.RESULT_ISSUED: S.RESULT_ISSUED},
    # a closed case's personal data are erased once its retention period is over
    S.RESULT_ISSUED: {E.RESULT_HANDED_OVER: S.HANDED_OVER, E.RATED: None, E.ERASED: None,
                      **_RECTIFICATION},
    S.HANDED_OVER: {E.RATED: None, E.ERASED: None, **_RECTIFICATION},
    S.WITHDRAWN: {E.ERASED: None},
}

_CLOCK_RUNS = frozenset({S.ACCEPTED, S.PAUSED_FOR_SUPPLEMENT, S.REVIEWED, S.JOINT_APPROVAL,
                         S.REPORTED_UP})
"""States whose deadline runs (or is paused): the deciding site may set it anew."""
_AT_A_WINDOW = frozenset({S.ROUTED, S.AWAITING_SUPPLEMENT, *_CLOCK_RUNS, S.DECIDED})
"""States in which a window still owes work: a supervisor may urge it."""
_FEES_DUE = frozenset({*_CLOCK_RUNS, S.DECIDED, S.RESULT_ISSUED, S.HANDED_OVER, S.WITHDRAWN})
"""States in which the finance window takes, voids and refunds fees: from acceptance on."""
_SIGNALLED = frozenset(_TABLE) - {S.NEW, S.REGISTERED, S.WITHDRAWN}
"""A signal is raised at the deciding site, from receipt on (a violation card may follow the
decision)."""


def _supervision(state: Status) -> dict[EventType, Status]:
    """The supervision events a state allows; none of them moves the case."""
    row: dict[EventType, Status] = {}
    if state in _CLOCK_RUNS:
        row[E.DEADLINE_SET] = state
        row[E.SPECIAL_PROCEDURE_STARTED] = state
        row[E.SPECIAL_PROCEDURE_ENDED] = state
        row[E.EXTENSION_REQUESTED] = state
        row[E.EXTENSION_DECIDED] = state
    if state is S.DECIDED:  # the time a special procedure open at the decision took
        row[E.DEADLINE_SET] = state
    if state in _AT_A_WINDOW:
        row[E.URGED] = state
    if state in _FEES_DUE and state is not S.WITHDRAWN:  # after 撤件: voids and refunds only
        row[E.FEE_PAID] = state
    if state in _FEES_DUE:
        row[E.RECEIPT_VOIDED] = state
        row[E.FEE_REFUNDED] = state
    if state is S.ACCEPTED:
        row[E.FEES_ASSESSED] = state
    if state in _SIGNALLED:
        row[E.SIGNALLED] = state
        row[E.CARD_APPEALED] = state
        row[E.CARD_RULED] = state
    return row


TRANSITIONS: Mapping[Status, Mapping[EventType, Status]] = MappingProxyType(
    {
        state: MappingProxyType(
            {
                **{event: (state if target is None else target) for event, target in row.items()},
                **_supervision(state),
                # 咨询投诉: a question or complaint about the case, and its answer, may
                # come in any state once it is registered; neither moves the case.
                **({} if state is S.NEW else {E.CONSULTATION_RECORDED: state,
                                              E.CONSULTATION_ANSWERED: state}),
                # The owner's answer to a late event may come in any state of a case.
                **({} if state is S.NEW else {E.REFUSED: state}),
            }
        )
        for state, row in _TABLE.items()
    }
)
"""``TRANSITIONS[state][event type]`` is the next state; a missing entry is an illegal event."""

SETTLEMENTS: Mapping[Status, tuple[Status, str]] = MappingProxyType(
    {S.JOINT_APPROVAL: (S.DECIDED, "once every co-approving department has answered")}
)
"""States a case leaves on its own once a condition holds, checked after every event."""
SETTLING_EVENTS = frozenset({E.CO_APPROVED, E.OBJECTED, E.DEEMED_CONSENT})

_PEOPLE_AT_ORIGIN = frozenset({Role.AGENT, Role.WINDOW_OPERATOR})
_OPERATOR = frozenset({Role.WINDOW_OPERATOR})
_SYSTEM = frozenset({Role.SYSTEM})
_ORIGIN_OR_ONLINE = frozenset({*_PEOPLE_AT_ORIGIN, Role.APPLICANT})
"""Registration and its materials: at a desk, or by the applicant in the online hall."""

EVENT_ROLES: Mapping[EventType, frozenset[Role]] = MappingProxyType(
    {
        E.REGISTERED: _ORIGIN_OR_ONLINE,  # a village agent, a centre's desk, or online
        E.MATERIAL_ADDED: _ORIGIN_OR_ONLINE,
        E.REGISTRATION_CORRECTED: _PEOPLE_AT_ORIGIN,
        E.WITHDRAWN: _PEOPLE_AT_ORIGIN,
        E.RECEIVED: _SYSTEM,
        E.REFERRED: _SYSTEM,
        E.ROUTED: _SYSTEM,
        E.TRANSFERRED: _OPERATOR,
        E.CLAIMED: _OPERATOR,
        E.CLAIM_RELEASED: _OPERATOR,
        E.REASSIGNED: frozenset({Role.SUPERVISOR, Role.ADMIN}),
        E.ACCEPTED: _OPERATOR,
        E.COPIES_SENT: _OPERATOR,
        E.SUPPLEMENT_REQUESTED: _OPERATOR,
        E.SUPPLEMENT_PROVIDED: _ORIGIN_OR_ONLINE,
        E.REVIEWED: _OPERATOR,
        E.CHECKED: _OPERATOR,
        E.REJECTED: _OPERATOR,
        E.REPORTED_UP: _OPERATOR,
        E.EXTERNAL_DECISION_RECORDED: _OPERATOR,
        E.CO_APPROVED: _OPERATOR,
        E.OBJECTED: _OPERATOR,
        E.DEEMED_CONSENT: _SYSTEM,
        E.DEEMED_APPROVED: _SYSTEM,
        E.RESULT_ISSUED: _OPERATOR,
        E.RESULT_HANDED_OVER: _PEOPLE_AT_ORIGIN,
        E.RATED: frozenset({*_PEOPLE_AT_ORIGIN, Role.SYSTEM}),  # system: online (网上评价)
        E.REFUSED: _SYSTEM,
        E.ERASED: _SYSTEM,
        E.DEADLINE_SET: _SYSTEM,
        E.SIGNALLED: frozenset({Role.SYSTEM, Role.SUPERVISOR}),
        E.URGED: frozenset({Role.SUPERVISOR}),
        E.CARD_APPEALED: frozenset({Role.WINDOW_OPERATOR, Role.DEPARTMENT_HEAD}),
        E.CARD_RULED: frozenset({Role.SUPERVISOR}),
        E.SPECIAL_PROCEDURE_STARTED: _OPERATOR,
        E.SPECIAL_PROCEDURE_ENDED: _OPERATOR,
        E.EXTENSION_REQUESTED: _OPERATOR,
        E.EXTENSION_DECIDED: frozenset({Role.DEPARTMENT_HEAD}),
        E.RECTIFICATION_OPENED: _SYSTEM,
        E.RECTIFICATION_ANSWERED: frozenset({Role.WINDOW_OPERATOR, Role.DEPARTMENT_HEAD}),
        E.CALLBACK_RECORDED: frozenset({Role.WINDOW_OPERATOR, Role.DEPARTMENT_HEAD,
                                        Role.SUPERVISOR}),
        E.FEES_ASSESSED: _OPERATOR,
        E.FEE_PAID: frozenset({Role.FINANCE}),
        E.RECEIPT_VOIDED: frozenset({Role.FINANCE}),
        E.FEE_REFUNDED: frozenset({Role.FINANCE}),
        # recorded by whoever took it (agent, window, supervisor on the 9618 line, or the
        # site itself for the online form); answered by the assigned department's staff
        E.CONSULTATION_RECORDED: frozenset({*_PEOPLE_AT_ORIGIN, Role.SUPERVISOR,
                                            Role.DEPARTMENT_HEAD, Role.SYSTEM}),
        E.CONSULTATION_ANSWERED: frozenset({Role.WINDOW_OPERATOR, Role.DEPARTMENT_HEAD}),
        E.COURIER_ADDRESS_GIVEN: frozenset({Role.APPLICANT}),  # online, on the case's page
    }
)
"""The roles that may author each event type."""

_ANY_TIER = frozenset(TIERS)
_DECIDING = frozenset(DECIDING_TIERS)
EVENT_TIERS: Mapping[EventType, frozenset[str]] = MappingProxyType(
    {
        event: (
            _ANY_TIER
            if event
            in (
                E.REGISTERED,
                E.MATERIAL_ADDED,
                E.REGISTRATION_CORRECTED,
                E.WITHDRAWN,
                E.SUPPLEMENT_PROVIDED,
                E.RESULT_HANDED_OVER,
                E.RATED,
                E.CONSULTATION_RECORDED,
            )
            else _DECIDING
        )
        for event in EventType
    }
)
"""The tiers of site at which each event type may be authored (villages register only)."""

CLAIM_REQUIRED: frozenset[EventType] = frozenset(
    {
        E.TRANSFERRED,
        E.ACCEPTED,
        E.COPIES_SENT,
        E.SUPPLEMENT_REQUESTED,
        E.REVIEWED,
        E.CHECKED,
        E.REJECTED,
        E.REPORTED_UP,
        E.EXTERNAL_DECISION_RECORDED,
        E.RESULT_ISSUED,
    }
)
"""Window work that only the operator holding the case's claim may do."""

ACTIONS: Mapping[str, EventType] = MappingProxyType(
    {
        "receipt": E.RECEIVED,
        "route": E.ROUTED,
        "claim": E.CLAIMED,
        "release_claim": E.CLAIM_RELEASED,
        "reassign": E.REASSIGNED,
        "accept": E.ACCEPTED,
        "request_supplement": E.SUPPLEMENT_REQUESTED,
        "supplement_provided": E.SUPPLEMENT_PROVIDED,
        "approve": E.REVIEWED,
        "check": E.CHECKED,
        "reject": E.REJECTED,
        "report_up": E.REPORTED_UP,
        "record_external_decision": E.EXTERNAL_DECISION_RECORDED,
        "co_approve": E.CO_APPROVED,
        "object": E.OBJECTED,
        "deemed_consent": E.DEEMED_CONSENT,
        "deemed_approval": E.DEEMED_APPROVED,
        "transfer": E.TRANSFERRED,
        "issue_result": E.RESULT_ISSUED,
        "withdraw": E.WITHDRAWN,
        "correct_registration": E.REGISTRATION_CORRECTED,
        "hand_over": E.RESULT_HANDED_OVER,
        "rate": E.RATED,
        "refuse": E.REFUSED,
        "signal": E.SIGNALLED,
        "urge": E.URGED,
        "appeal_card": E.CARD_APPEALED,
        "rule_card": E.CARD_RULED,
        "start_special_procedure": E.SPECIAL_PROCEDURE_STARTED,
        "end_special_procedure": E.SPECIAL_PROCEDURE_ENDED,
        "request_extension": E.EXTENSION_REQUESTED,
        "decide_extension": E.EXTENSION_DECIDED,
        "answer_rectification": E.RECTIFICATION_ANSWERED,
        "record_callback": E.CALLBACK_RECORDED,
        "pay": E.FEE_PAID,
        "void_receipt": E.RECEIPT_VOIDED,
        "refund": E.FEE_REFUNDED,
    }
)
"""Action names (the API's ``action``) and the event each one appends.

``accept`` of a joint case appends ``copies_sent`` as well. ``registered`` (intake) and
``material_added`` (uploads) are appended by their own endpoints, not as actions.
"""

_STAGES: Mapping[Status, str] = MappingProxyType(
    {
        S.NEW: "new",
        S.REGISTERED: "queued_at_origin",
        S.ROUTED: "at_window",
        S.ACCEPTED: "at_window",
        S.REVIEWED: "at_window",
        S.AWAITING_SUPPLEMENT: "awaiting_supplement",
        S.PAUSED_FOR_SUPPLEMENT: "awaiting_supplement",
        S.JOINT_APPROVAL: "in_joint_approval",
        S.REPORTED_UP: "with_higher_authority",
        S.DECIDED: "decided",
        S.RESULT_ISSUED: "result_issued",
        S.HANDED_OVER: "handed_over",
        S.WITHDRAWN: "withdrawn",
    }
)
STAGES = (
    "new",
    "queued_at_origin",
    "at_township",
    "at_county",
    "received_by_city",
    "received_by_province",
    "at_window",
    "awaiting_supplement",
    "in_joint_approval",
    "with_higher_authority",
    "decided",
    "result_issued",
    "handed_over",
    "withdrawn",
)
"""Every stage code :attr:`CaseState.stage` may take (for the status pages)."""

Pause = tuple[datetime, datetime | None]
EventKey = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class Rectification:
    """A bad rating's rectification (差评整改): the department that owes it and when, its
    answer, and how the call-back to the applicant went (None: not yet)."""

    department: str
    due: datetime
    opened_at: datetime
    answered_at: datetime | None = None
    callback: str | None = None
    callback_at: datetime | None = None

    @property
    def status(self) -> str:
        """``open`` (no answer yet), ``answered`` (no call-back yet) or ``closed``."""
        if self.callback is not None:
            return "closed"
        return "open" if self.answered_at is None else "answered"


@dataclass(frozen=True, slots=True)
class CaseState:
    """What a case's log says about it now. Built only by :func:`fold` and :func:`apply`.

    ``pauses`` are the supplement waits after acceptance, as the working-day deadline takes
    them (the last one open while the applicant has not answered). ``kind_history`` holds each
    kind the case has been, with the time it became it. ``handed_on_from`` is the window that
    reviewed the case and handed it on to be decided elsewhere (a transfer after review, which
    only a preliminary window may make).
    """

    state: Status = Status.NEW
    case_id: str | None = None
    origin_site: str | None = None
    referred_to: str | None = None
    """The office competent for the applicant's area the case was referred to (全城通办)."""
    item_code: str | None = None
    kind: Kind | None = None
    item_kind: Kind | None = None
    kind_history: tuple[tuple[Kind, datetime], ...] = ()
    window: str | None = None
    site: str | None = None
    received_tier: str | None = None
    registered_at: datetime | None = None
    received_at: datetime | None = None
    claimed_by: str | None = None
    reviewer: str | None = None
    checker: str | None = None
    missing: tuple[str, ...] = ()
    supplement_requests: int = 0
    reason: str | None = None
    outcome: Outcome | None = None
    deemed: bool = False
    joint_answers: tuple[tuple[str, JointAnswer | None], ...] = ()
    objections: tuple[tuple[str, str], ...] = ()
    reported_to: str | None = None
    handed_on_from: str | None = None
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    result_issued_at: datetime | None = None
    handed_over: bool = False
    rating: Rating | None = None
    rating_comment: str = ""
    corrections: int = 0
    signals: tuple[tuple[str, str, datetime], ...] = ()
    """Each signal raised, as ``(kind, rule, at)``."""
    appeals: tuple[tuple[EventKey, str | None], ...] = ()
    """Each contested card and the supervisor's ruling (None: not ruled yet)."""
    urged_at: datetime | None = None
    procedures: tuple[tuple[str, datetime, datetime | None], ...] = ()
    """Each special procedure (特别程序) as ``(procedure, start, end)``, the last one
    possibly still open (end None): its time is left out of the time limits."""
    extension_requested: int | None = None
    """The working days the one extension request (延期) asked for."""
    extension_approved: bool | None = None
    """The department head's answer (None: not answered yet, or no request)."""
    extension_days: int = 0
    """The working days an approved extension added to both time limits."""
    fee_due: int | None = None
    """The fees assessed at acceptance, in fen (None: not assessed, or the item charges
    nothing)."""
    receipts: tuple[tuple[str, int, bool], ...] = ()
    """Each receipt the finance window took for the case: ``(number, fen, voided)``."""
    refunded: int = 0
    rectification: Rectification | None = None
    """差评整改: opened by a bad rating at the deciding site, answered by the department,
    closed by the call-back to the applicant."""
    refusals: tuple[EventKey, ...] = ()
    events: int = 0

    @property
    def stage(self) -> str:
        """A short user-facing code for where the case is (one of :data:`STAGES`)."""
        if self.state is Status.RECEIVED:
            tier = self.received_tier or "city"
            return f"received_by_{tier}" if tier in ("city", "province") else f"at_{tier}"
        return _STAGES[self.state]

    @property
    def co_approvals(self) -> dict[str, JointAnswer | None]:
        """Each co-approving department of a joint case and its answer (``None``: none yet)."""
        return dict(self.joint_answers)

    @property
    def pending_departments(self) -> tuple[str, ...]:
        """Co-approving departments that have not answered yet."""
        return tuple(dept for dept, answer in self.joint_answers if answer is None)

    @property
    def is_closed(self) -> bool:
        """Decided or withdrawn: no window work is left but issuing the result."""
        return self.outcome is not None

    @property
    def withdrawn_cards(self) -> frozenset[EventKey]:
        """Cards the supervisor withdrew on appeal: they no longer stand."""
        return frozenset(key for key, ruling in self.appeals if ruling == "withdrawn")

    @property
    def is_paused(self) -> bool:
        """Waiting for the applicant's supplement after acceptance."""
        return bool(self.pauses) and self.pauses[-1][1] is None

    @property
    def open_procedure(self) -> str | None:
        """The special procedure under way, if one is."""
        if self.procedures and self.procedures[-1][2] is None:
            return self.procedures[-1][0]
        return None

    @property
    def clock_stopped(self) -> bool:
        """The time limits do not run now: a supplement wait or a special procedure."""
        return self.is_paused or self.open_procedure is not None

    @property
    def clock_stops(self) -> tuple[tuple[datetime, datetime | None], ...]:
        """Every span the time limits leave out, supplement waits and special procedures
        merged, in order and not overlapping (what the working-day deadline takes)."""
        spans = sorted([*self.pauses, *((start, end) for _, start, end in self.procedures)],
                       key=lambda span: span[0])
        merged: list[tuple[datetime, datetime | None]] = []
        for start, end in spans:
            if merged and (merged[-1][1] is None or start <= merged[-1][1]):
                last_start, last_end = merged[-1]
                merged[-1] = (last_start, None if end is None or last_end is None
                              else max(last_end, end))
            else:
                merged.append((start, end))
        return tuple(merged)

    @property
    def fee_paid(self) -> int:
        """What was paid against receipts not voided, less the refunds, in fen."""
        return sum(fen for _, fen, voided in self.receipts if not voided) - self.refunded

    @property
    def fees_unpaid(self) -> bool:
        """Fees were assessed and less than them is paid."""
        return self.fee_due is not None and self.fee_paid < self.fee_due

    @property
    def extension_pending(self) -> bool:
        """An extension was asked for and the department head has not answered."""
        return self.extension_requested is not None and self.extension_approved is None


EventLike = CaseEvent | EventDraft


# -- guards: the case's own invariants, beyond the tables ------------------------------------
# Actor guards need only who acts (so allowed_actions can ask them); payload guards need the
# event's content too.


def _claim_guard(case: CaseState, event_type: EventType, actor: EventActor) -> None:
    if event_type not in CLAIM_REQUIRED:
        return
    holder = case.claimed_by
    if holder is None:
        raise StateConflict("claimed_by", "claim the case before working on it")
    if holder != actor.username:
        raise StateConflict("claimed_by", f"the case is claimed by {holder}")


def _guard_claimed(case: CaseState, actor: EventActor) -> None:
    if case.claimed_by == actor.username:
        raise StateConflict("claimed_by", "you already hold the claim on this case")
    if case.claimed_by is not None:
        raise StateConflict("claimed_by", f"the case is claimed by {case.claimed_by}")


def _guard_claim_released(case: CaseState, actor: EventActor) -> None:
    if case.claimed_by is None:
        raise StateConflict("claimed_by", "nobody holds the claim on this case")
    if case.claimed_by != actor.username:
        raise NotPermitted("claimed_by", f"only {case.claimed_by} may release the claim")


def _guard_copies_sent(case: CaseState, actor: EventActor) -> None:
    if case.item_kind is not Kind.JOINT:
        raise StateConflict("kind", "only a joint case is copied to co-approving departments")


def _guard_supplement_requested(case: CaseState, actor: EventActor) -> None:
    if case.supplement_requests:
        raise StateConflict(
            "missing",
            "the applicant was already told everything missing once (一次性告知)",
        )


def _guard_checked(case: CaseState, actor: EventActor) -> None:
    if actor.username == case.reviewer:
        raise NotPermitted("checker", "一审一核: the reviewer may not also check the case")


def _guard_rejected(case: CaseState, actor: EventActor) -> None:
    if case.state is Status.REVIEWED and actor.username == case.reviewer:
        raise NotPermitted(
            "checker", "一审一核: after review only a different operator may reject the case"
        )


def _guard_rated(case: CaseState, actor: EventActor) -> None:
    if case.rating is not None:
        raise StateConflict("rating", "this case has already been rated")


def _guard_joint(case: CaseState, payload: Mapping[str, Any]) -> None:
    department = payload["department"]
    answers = case.co_approvals
    if department not in answers:
        raise NotPermitted("department", f"{department} is not a co-approving department")
    if answers[department] is not None:
        raise StateConflict("department", f"{department} has already answered")


def _card_key(payload: Mapping[str, Any]) -> EventKey:
    ref = payload["card"]
    return (ref["origin"], ref["epoch"], ref["seq"])


def _guard_appeal(case: CaseState, payload: Mapping[str, Any]) -> None:
    """No more appeals than cards (that the key names a card of the case not appealed yet
    is the deciding site's check, :func:`shared.deciding.case_work.act`: it holds the log)."""
    cards = sum(1 for kind, _, _ in case.signals if kind in ("yellow_card", "red_card"))
    if len(case.appeals) >= cards:
        raise StateConflict("card", "no card of this case is left to appeal")


def _guard_ruling(case: CaseState, payload: Mapping[str, Any]) -> None:
    card = _card_key(payload)
    ruling = dict(case.appeals).get(card, "absent")
    if ruling == "absent":
        raise StateConflict("card", "this card was not appealed")
    if ruling is not None:
        raise StateConflict("card", f"this appeal was ruled already ({ruling})")


def _guard_procedure_started(case: CaseState, actor: EventActor) -> None:
    _claim_where_claimed(case, actor)
    if case.open_procedure is not None:
        raise StateConflict("procedure", f"the special procedure {case.open_procedure} is "
                            "under way: end it first")


def _guard_procedure_ended(case: CaseState, actor: EventActor) -> None:
    if case.open_procedure is None:
        raise StateConflict("procedure", "no special procedure is under way")


def _guard_procedure_named(case: CaseState, payload: Mapping[str, Any]) -> None:
    if payload["procedure"] != case.open_procedure:
        raise StateConflict("procedure", f"the procedure under way is {case.open_procedure}")


def _guard_extension_requested(case: CaseState, actor: EventActor) -> None:
    _claim_where_claimed(case, actor)
    if case.extension_requested is not None:
        raise StateConflict("days", "an extension (延期) is asked for once per case")


def _guard_extension_decided(case: CaseState, actor: EventActor) -> None:
    if case.extension_requested is None:
        raise StateConflict("approved", "no extension was asked for")
    if case.extension_approved is not None:
        raise StateConflict("approved", "the extension was decided already")


def _guard_extension_days(case: CaseState, payload: Mapping[str, Any]) -> None:
    asked = case.extension_requested or 0
    if payload["approved"] and payload["days"] > asked:
        raise StateConflict("days", f"the window asked for {asked} working days, no more")


def _claim_where_claimed(case: CaseState, actor: EventActor) -> None:
    """In a state where the case is claimed to be worked, only the claim holder acts."""
    if E.CLAIMED in _TABLE[case.state] and case.claimed_by != actor.username:
        raise StateConflict("claimed_by", "claim the case before working on it"
                            if case.claimed_by is None
                            else f"the case is claimed by {case.claimed_by}")


def _guard_copies(case: CaseState, payload: Mapping[str, Any]) -> None:
    if case.joint_answers:
        raise StateConflict("departments", "the copies have already been sent")


def _guard_rectification_opened(case: CaseState, actor: EventActor) -> None:
    if case.rating is None or case.rating.value not in BAD_RATINGS:
        raise StateConflict("rating", "only 不满意 or 非常不满意 opens a rectification")
    if case.rectification is not None:
        raise StateConflict("rectification", "the rectification was opened already")


def _guard_rectification_answered(case: CaseState, actor: EventActor) -> None:
    if case.rectification is None or case.rectification.status != "open":
        raise StateConflict("rectification", "no rectification of this case awaits an answer")


def _guard_callback(case: CaseState, actor: EventActor) -> None:
    if case.rectification is None or case.rectification.status != "answered":
        raise StateConflict("rectification",
                            "the call-back follows the department's answer, once")


def _guard_assessed(case: CaseState, payload: Mapping[str, Any]) -> None:
    if case.fee_due is not None:
        raise StateConflict("fees", "the fees were assessed already")


def _guard_paid(case: CaseState, payload: Mapping[str, Any]) -> None:
    if case.fee_due is None:
        raise StateConflict("fees", "no fees were assessed for this case")
    if any(number == payload["receipt_no"] for number, _, _ in case.receipts):
        raise StateConflict("receipt_no", "this receipt number was used already")


def _guard_voided(case: CaseState, payload: Mapping[str, Any]) -> None:
    if not any(number == payload["receipt_no"] and not voided
               for number, _, voided in case.receipts):
        raise StateConflict("receipt_no", "no receipt of this case has this number to void")


def _guard_refunded(case: CaseState, payload: Mapping[str, Any]) -> None:
    if payload["amount_fen"] > case.fee_paid:
        raise StateConflict("amount_fen", f"at most what was paid ({case.fee_paid} fen)")


_ACTOR_GUARDS: Mapping[EventType, Callable[[CaseState, EventActor], None]] = {
    E.CLAIMED: _guard_claimed,
    E.CLAIM_RELEASED: _guard_claim_released,
    E.COPIES_SENT: _guard_copies_sent,
    E.SUPPLEMENT_REQUESTED: _guard_supplement_requested,
    E.CHECKED: _guard_checked,
    E.REJECTED: _guard_rejected,
    E.RATED: _guard_rated,
    E.SPECIAL_PROCEDURE_STARTED: _guard_procedure_started,
    E.SPECIAL_PROCEDURE_ENDED: _guard_procedure_ended,
    E.EXTENSION_REQUESTED: _guard_extension_requested,
    E.EXTENSION_DECIDED: _guard_extension_decided,
    E.RECTIFICATION_OPENED: _guard_rectification_opened,
    E.RECTIFICATION_ANSWERED: _guard_rectification_answered,
    E.CALLBACK_RECORDED: _guard_callback,
}
_PAYLOAD_GUARDS: Mapping[EventType, Callable[[CaseState, Mapping[str, Any]], None]] = {
    E.CO_APPROVED: _guard_joint,
    E.OBJECTED: _guard_joint,
    E.DEEMED_CONSENT: _guard_joint,
    E.COPIES_SENT: _guard_copies,
    E.CARD_APPEALED: _guard_appeal,
    E.CARD_RULED: _guard_ruling,
    E.SPECIAL_PROCEDURE_ENDED: _guard_procedure_named,
    E.EXTENSION_DECIDED: _guard_extension_days,
    E.FEES_ASSESSED: _guard_assessed,
    E.FEE_PAID: _guard_paid,
    E.RECEIPT_VOIDED: _guard_voided,
    E.FEE_REFUNDED: _guard_refunded,
}


# -- effects: what each event changes ---------------------------------------------------------

Changes = dict[str, Any]


def _becomes(case: CaseState, kind: Kind, at: datetime) -> Changes:
    if case.kind is kind:
        return {}
    return {"kind": kind, "kind_history": (*case.kind_history, (kind, at))}


def _close_pause(case: CaseState, at: datetime) -> Changes:
    if not case.is_paused:
        return {}
    start = case.pauses[-1][0]
    return {"pauses": (*case.pauses[:-1], (start, max(start, at)))}


def _decide(case: CaseState, outcome: Outcome, at: datetime, reason: str | None) -> Changes:
    changes: Changes = {"outcome": outcome, "decided_at": at, "reason": reason}
    if outcome is Outcome.REJECTED:
        changes.update(_becomes(case, Kind.RETURNED, at))
    return changes


def _effect(case: CaseState, event: EventLike) -> Changes:
    t, p, at, who = event.type, event.payload, event.at, event.actor.username
    if t is E.REGISTERED:
        kind = Kind(p["kind"])
        return {
            "item_code": p["item_code"],
            "window": p["window"],
            "kind": kind,
            "item_kind": kind,
            "kind_history": ((kind, at),),
            "registered_at": at,
            "origin_site": event.origin if isinstance(event, CaseEvent) else None,
        }
    if t is E.RECEIVED:
        return {"received_tier": p["tier"], "received_at": at}
    if t is E.REFERRED:
        return {"referred_to": p["to"]}
    if t is E.ROUTED:
        return {"window": p["window"], "site": p["site"], "claimed_by": None}
    if t is E.TRANSFERRED:
        handed_on = case.window if case.state is S.REVIEWED else case.handed_on_from
        return {
            "window": p["to_window"],
            "site": p["to_site"],
            "claimed_by": None,
            "reviewer": None,
            "reason": p["reason"].strip(),
            "handed_on_from": handed_on,
        }
    if t is E.CLAIMED:
        return {"claimed_by": who}
    if t is E.CLAIM_RELEASED:
        return {"claimed_by": None}
    if t is E.REASSIGNED:
        return {"claimed_by": p.get("to")}
    if t is E.REGISTRATION_CORRECTED:
        return {"corrections": case.corrections + 1}
    if t is E.ACCEPTED:
        kind = Kind(p["kind"])
        return {
            "item_kind": kind,
            "accepted_at": case.accepted_at or at,  # the first acceptance starts the clock
            **_becomes(case, kind, at),
        }
    if t is E.COPIES_SENT:
        departments = tuple(p["departments"])
        return {"joint_answers": tuple((d, None) for d in departments), "claimed_by": None}
    if t is E.SUPPLEMENT_REQUESTED:
        changes: Changes = {
            "missing": tuple(p["missing"]),
            "reason": p["reason"].strip(),
            "supplement_requests": case.supplement_requests + 1,
            "claimed_by": None,
            **_becomes(case, Kind.SUPPLEMENT, at),
        }
        if case.state is Status.ACCEPTED and case.accepted_at is not None:
            # Origins' clocks differ a little: a pause never starts before what precedes it.
            floors = [case.accepted_at, *(end for _, end in case.pauses if end is not None)]
            changes["pauses"] = (*case.pauses, (max(at, *floors), None))
        return changes
    if t is E.SUPPLEMENT_PROVIDED:
        back = case.item_kind or Kind.PROMISED
        return {"missing": (), **_becomes(case, back, at), **_close_pause(case, at)}
    if t is E.REVIEWED:
        return {"reviewer": who, "claimed_by": None}
    if t is E.CHECKED:
        return {"checker": who, **_decide(case, Outcome.APPROVED, at, None)}
    if t is E.REJECTED:
        changes = _decide(case, Outcome.REJECTED, at, p["reason"].strip())
        if case.state is Status.REVIEWED:
            changes["checker"] = who
        return changes
    if t is E.REPORTED_UP:
        return {"reported_to": p["authority"], "claimed_by": None}
    if t is E.EXTERNAL_DECISION_RECORDED:
        outcome = Outcome(p["outcome"])
        reason = p.get("reason")
        return _decide(case, outcome, at, reason.strip() if isinstance(reason, str) else None)
    if t in (E.CO_APPROVED, E.OBJECTED, E.DEEMED_CONSENT):
        department = p["department"]
        answer = {
            E.CO_APPROVED: JointAnswer.APPROVED,
            E.OBJECTED: JointAnswer.OBJECTED,
            E.DEEMED_CONSENT: JointAnswer.DEEMED_CONSENT,
        }[t]
        changes = {
            "joint_answers": tuple(
                (d, answer if d == department else a) for d, a in case.joint_answers
            )
        }
        if t is E.OBJECTED:
            changes["objections"] = (*case.objections, (department, p["reason"].strip()))
        return changes
    if t is E.DEEMED_APPROVED:
        return {"deemed": True, **_decide(case, Outcome.APPROVED, at, None)}
    if t is E.RESULT_ISSUED:
        return {"result_issued_at": at, "claimed_by": None}
    if t is E.RESULT_HANDED_OVER:
        return {"handed_over": True}
    if t is E.RATED:
        return {"rating": Rating(p["rating"]), "rating_comment": str(p.get("comment", ""))}
    if t is E.WITHDRAWN:
        reason = p.get("reason")
        return {
            "claimed_by": None,
            "missing": (),
            **_close_pause(case, at),
            **_decide(case, Outcome.WITHDRAWN, at, reason if isinstance(reason, str) else None),
        }
    if t is E.SIGNALLED:
        return {"signals": (*case.signals, (p["kind"], p["rule"], at))}
    if t is E.CARD_APPEALED:
        return {"appeals": (*case.appeals, (_card_key(p), None))}
    if t is E.CARD_RULED:
        card = _card_key(p)
        return {"appeals": tuple((k, p["ruling"] if k == card else r) for k, r in case.appeals)}
    if t is E.URGED:
        return {"urged_at": at}
    if t is E.SPECIAL_PROCEDURE_STARTED:
        # never before acceptance, nor before the last stop ended (origins' clocks differ)
        floors = [case.accepted_at or at, *(end for _, _, end in case.procedures if end)]
        return {"procedures": (*case.procedures, (p["procedure"], max(at, *floors), None))}
    if t is E.SPECIAL_PROCEDURE_ENDED:
        name, start, _ = case.procedures[-1]
        return {"procedures": (*case.procedures[:-1], (name, start, max(start, at)))}
    if t is E.EXTENSION_REQUESTED:
        return {"extension_requested": p["days"]}
    if t is E.EXTENSION_DECIDED:
        return {"extension_approved": p["approved"],
                "extension_days": p["days"] if p["approved"] else 0}
    if t is E.RECTIFICATION_OPENED:
        return {"rectification": Rectification(
            p["department"], datetime.fromisoformat(p["due"]).astimezone(UTC), at)}
    if t is E.RECTIFICATION_ANSWERED and case.rectification is not None:
        return {"rectification": dataclasses.replace(case.rectification, answered_at=at)}
    if t is E.CALLBACK_RECORDED and case.rectification is not None:
        return {"rectification": dataclasses.replace(case.rectification,
                                                     callback=p["outcome"], callback_at=at)}
    if t is E.FEES_ASSESSED:
        return {"fee_due": p["total_fen"]}
    if t is E.FEE_PAID:
        return {"receipts": (*case.receipts, (p["receipt_no"], p["amount_fen"], False))}
    if t is E.RECEIPT_VOIDED:
        return {"receipts": tuple((n, fen, voided or n == p["receipt_no"])
                                  for n, fen, voided in case.receipts)}
    if t is E.FEE_REFUNDED:
        return {"refunded": case.refunded + p["amount_fen"]}
    if t is E.REFUSED:
        ref = p["refused"]
        return {"refusals": (*case.refusals, (ref["origin"], ref["epoch"], ref["seq"]))}
    return {}  # material_added: recorded in the log, the state does not change


def _settle(case: CaseState, at: datetime) -> CaseState:
    """Leave a state whose condition (:data:`SETTLEMENTS`) now holds."""
    if case.state is Status.JOINT_APPROVAL and case.joint_answers and not case.pending_departments:
        if case.objections:
            reason = "; ".join(f"{dept}: {text}" for dept, text in case.objections)
            changes = _decide(case, Outcome.REJECTED, at, reason)
        else:
            changes = _decide(case, Outcome.APPROVED, at, None)
        return dataclasses.replace(case, state=SETTLEMENTS[case.state][0], **changes)
    return case


# -- the public fold --------------------------------------------------------------------------


def check_event(case: CaseState, event_type: EventType, actor: EventActor) -> Status:
    """The state ``event_type`` by ``actor`` leads to, or why it may not happen now.

    Checks the tables and the actor-dependent invariants (claim, 一审一核, one rating, one
    supplement notice); payload-dependent ones are checked by :func:`apply`.
    """
    row = TRANSITIONS[case.state]
    target = row.get(event_type)
    if target is None:
        raise StateConflict("state", f"{event_type} is not allowed when the case is {case.state}")
    if actor.role not in EVENT_ROLES[event_type]:
        roles = ", ".join(sorted(EVENT_ROLES[event_type]))
        raise NotPermitted("role", f"{event_type} is for {roles}, not {actor.role}")
    _claim_guard(case, event_type, actor)
    guard = _ACTOR_GUARDS.get(event_type)
    if guard is not None:
        guard(case, actor)
    return target


def apply(case: CaseState, event: EventLike) -> CaseState:
    """``case`` after ``event``; raises and changes nothing when the event is not allowed."""
    if isinstance(event, CaseEvent) and case.case_id not in (None, event.case_id):
        raise InvalidInput("case_id", f"event of case {event.case_id}, not {case.case_id}")
    target = check_event(case, event.type, event.actor)
    guard = _PAYLOAD_GUARDS.get(event.type)
    if guard is not None:
        guard(case, event.payload)
    changes = _effect(case, event)
    if isinstance(event, CaseEvent) and case.case_id is None:
        changes["case_id"] = event.case_id
    moved = dataclasses.replace(case, state=target, events=case.events + 1, **changes)
    return _settle(moved, event.at)


def refused_keys(events: Iterable[CaseEvent]) -> frozenset[EventKey]:
    """The keys of the events that ``refused`` events among ``events`` answer."""
    keys: set[EventKey] = set()
    for event in events:
        if event.type is E.REFUSED:
            ref = event.payload["refused"]
            keys.add((ref["origin"], ref["epoch"], ref["seq"]))
    return frozenset(keys)


def fold_more(case: CaseState, events: Sequence[CaseEvent]) -> CaseState:
    """``case`` after ``events`` in order, skipping (but counting) refused events."""
    skip = refused_keys(events)
    for event in events:
        if event.key in skip:
            case = dataclasses.replace(case, events=case.events + 1)
            continue
        case = apply(case, event)
    return case


def fold(events: Sequence[CaseEvent]) -> CaseState:
    """The state of a case from its log in the owner's order. Deterministic: the same events
    give the same state at every site. An event no refusal answers must be legal in turn.
    """
    return fold_more(CaseState(), events)


def allowed_events(case: CaseState, actor: Actor) -> list[EventType]:
    """The event types ``actor`` could append now, by the tables and the case's invariants."""
    allowed: list[EventType] = []
    for event_type in TRANSITIONS[case.state]:
        if actor.tier not in EVENT_TIERS[event_type]:
            continue
        try:
            check_event(case, event_type, actor.as_event_actor)
        except (StateConflict, NotPermitted):
            continue
        if event_type in (E.CO_APPROVED, E.OBJECTED) and (
            actor.department not in case.pending_departments
        ):
            continue
        if event_type is E.DEEMED_CONSENT and not case.pending_departments:
            continue
        allowed.append(event_type)
    return allowed


def allowed_actions(case: CaseState, actor: Actor) -> list[str]:
    """The action names (see :data:`ACTIONS`) ``actor`` may take now, in a stable order.

    This is the state machine's answer; :func:`shared.domain.window_workflow.allowed_actions` adds
    the catalogue's (window, authority level, department).
    """
    events = set(allowed_events(case, actor))
    return [action for action, event_type in ACTIONS.items() if event_type in events]


# -- documentation ----------------------------------------------------------------------------


def _roles(event_type: EventType) -> str:
    return ", ".join(f"`{r}`" for r in sorted(EVENT_ROLES[event_type]))


def _tiers(event_type: EventType) -> str:
    tiers = EVENT_TIERS[event_type]
    return "any" if tiers == _ANY_TIER else "not village"


_ANY_STATE_BUT_NEW = (E.CONSULTATION_RECORDED, E.CONSULTATION_ANSWERED, E.REFUSED)
"""Events every state but ``new`` allows without moving the case (one line each below)."""


def transition_table_markdown() -> str:
    """The transition table and the per-event rules as Markdown, generated from the tables."""
    lines = [
        "| state | event | next state |",
        "|---|---|---|",
    ]
    for state, row in TRANSITIONS.items():
        for event_type, target in row.items():
            if event_type in _ANY_STATE_BUT_NEW:
                continue
            settles = SETTLEMENTS.get(state) if event_type in SETTLING_EVENTS else None
            shown = f"`{target}`"
            if settles is not None:
                shown += f", or `{settles[0]}` {settles[1]}"
            lines.append(f"| `{state}` | `{event_type}` | {shown} |")
    lines += [f"| any state but `new` | `{event_type}` | the same state |"
              for event_type in _ANY_STATE_BUT_NEW]
    lines += [
        "",
        "| event | action | roles | tiers | claim holder only |",
        "|---|---|---|---|---|",
    ]
    action_of = {event_type: action for action, event_type in ACTIONS.items()}
    for event_type in EventType:
        action = action_of.get(event_type)
        lines.append(
            f"| `{event_type}` | {f'`{action}`' if action else '—'} | {_roles(event_type)} "
            f"| {_tiers(event_type)} | {'yes' if event_type in CLAIM_REQUIRED else ''} |"
        )
    return "\n".join(lines) + "\n"
