"""The window workflow: who may do what to a case, at which window and authority level.

Pure functions over a :class:`~shared.domain.case_state.CaseState`: :func:`perform` takes the case,
the catalogue's facts about its item (:class:`ItemRules`), the actor and an
:class:`ActionRequest`, and returns the events to append (as drafts the storage layer stamps
with the origin's next sequence numbers) and the case's state after them; or it raises a typed
error that names why not: ``role``, ``tier``, ``window``, ``site``, ``department``,
``authority``, ``checker`` (一审一核), ``claimed_by`` or ``state``. The hub and the deciding
township and county nodes run the same code.

The state machine (:mod:`shared.domain.case_state`) keeps the case's own invariants; this module
adds
what the catalogue decides: a decision-level window decides with a reviewer and a different
checker; a review-and-report window reviews and reports up to the deciding authority; a
preliminary window reviews and hands on (reports up, or transfers to the deciding window);
a joint case is copied to every co-approving department at acceptance.

:class:`ItemRules` is defined here rather than imported so the workflow depends on no storage
or loader; :func:`rules_from_item` builds it from a catalogue item (anything shaped like
:class:`shared.domain.catalogue.ServiceItem`) and the tier of the window's site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from shared.domain.case_events import (
    CALLBACK_OUTCOMES,
    CARD_RULINGS,
    ITEM_KINDS,
    SIGNAL_KINDS,
    SIGNAL_RULES,
    SPECIAL_PROCEDURES,
    Actor,
    CaseEvent,
    Decision,
    EventDraft,
    EventType,
    Kind,
    Rating,
    Role,
    check_aware_utc,
    check_reason,
    check_site_code,
    check_username,
)
from shared.domain.case_state import ACTIONS, EVENT_ROLES, EVENT_TIERS, CaseState, Status, apply
from shared.domain.case_state import allowed_actions as machine_actions
from shared.domain.delivery import HANDOVER_METHODS, handover_payload
from shared.domain.errors import DomainError, InvalidInput, NotPermitted, Problems, StateConflict
from shared.domain.fees import MAX_FEN, check_receipt_no
from shared.domain.rating import rating_payload


class AuthorityLevel(StrEnum):
    """The level a window is authorised at for an item (the catalogue's ``authority``)."""

    DECISION = "decision"  # 审批决定权
    REVIEW_REPORT = "review_report"  # 审核上报权
    PRELIMINARY = "preliminary"  # 初审及组织办理权


WINDOW_TIERS = ("township", "county", "city")
ITEM_DECIDING_TIERS = ("township", "county", "city", "external")


@dataclass(frozen=True, slots=True)
class ItemRules:
    """What the catalogue says about an item that the workflow needs.

    ``window_tier`` is the tier of the sites the item's window sits at; it equals
    ``deciding_tier`` unless the item is decided by an ``external`` authority, whose
    ``external_authority`` names it. ``co_approvers`` are the departments of a joint item
    (the lead included) that each answer the copy they receive. ``window_department`` is
    the department of the window holding the case: its head decides an extension.
    """

    item_code: str
    kind: Kind
    deciding_tier: str
    window: str
    window_tier: str
    authority: AuthorityLevel
    promised_days: int = 0
    co_approvers: tuple[str, ...] = ()
    external_authority: str | None = None
    overdue_means_approval: bool = False  # 超时许可
    absence_means_consent: bool = False  # 缺席默许
    window_department: str | None = None
    pay_on_collection: bool = False  # the result may be issued before the fees are paid

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        try:
            object.__setattr__(self, "kind", Kind(self.kind))
            object.__setattr__(self, "authority", AuthorityLevel(self.authority))
        except ValueError as exc:
            raise InvalidInput("rules", str(exc)) from None
        object.__setattr__(self, "co_approvers", tuple(self.co_approvers))
        kind, authority = self.kind, self.authority
        if not self.item_code:
            problems["item_code"] = "required"
        if not self.window:
            problems["window"] = "required"
        if kind not in ITEM_KINDS:
            problems["kind"] = f"an item's kind is one of {', '.join(sorted(ITEM_KINDS))}"
        if self.deciding_tier not in ITEM_DECIDING_TIERS:
            problems["deciding_tier"] = f"one of {', '.join(ITEM_DECIDING_TIERS)}"
        if self.window_tier not in WINDOW_TIERS:
            problems["window_tier"] = f"one of {', '.join(WINDOW_TIERS)}"
        elif self.deciding_tier not in ("external", self.window_tier):
            problems["window_tier"] = "the window sits at the tier that decides the item"
        if (kind is Kind.REPORT_UP) != (self.deciding_tier == "external"):
            problems["deciding_tier"] = "report_up items, and only they, are decided externally"
        if (kind is Kind.REPORT_UP) != (authority is AuthorityLevel.REVIEW_REPORT):
            problems["authority"] = "review_report goes with report_up items, and only with them"
        if kind is Kind.REPORT_UP and not self.external_authority:
            problems["external_authority"] = "a report_up item names its deciding authority"
        if kind is Kind.IMMEDIATE and authority is not AuthorityLevel.DECISION:
            problems["authority"] = "an immediate item is decided at the window"
        if kind is Kind.JOINT and len(set(self.co_approvers)) < 2:
            problems["co_approvers"] = "a joint item has at least two co-approving departments"
        if kind is not Kind.JOINT and self.co_approvers:
            problems["co_approvers"] = "only joint items have co-approving departments"
        if len(set(self.co_approvers)) != len(self.co_approvers):
            problems["co_approvers"] = "a department is listed twice"
        if self.absence_means_consent and kind is not Kind.JOINT:
            problems["absence_means_consent"] = "only joint items have departments to consent"
        if self.overdue_means_approval and kind in (Kind.IMMEDIATE, Kind.REPORT_UP):
            problems["overdue_means_approval"] = f"a {kind} item has no window deadline to expire"
        if self.promised_days < 0:
            problems["promised_days"] = "not negative"
        if problems:
            raise Problems(problems, "inconsistent item rules")


class _Named(Protocol):
    @property
    def zh(self) -> str: ...


class CatalogueItem(Protocol):
    """The shape of a catalogue item that :func:`rules_from_item` reads."""

    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def tier(self) -> str: ...
    @property
    def window(self) -> str: ...
    @property
    def authority(self) -> str: ...
    @property
    def promised_days(self) -> int: ...
    @property
    def department(self) -> str: ...
    @property
    def co_approvers(self) -> tuple[str, ...]: ...
    @property
    def external_authority(self) -> _Named | None: ...
    @property
    def overdue_means_approval(self) -> bool: ...
    @property
    def absence_means_consent(self) -> bool: ...
    @property
    def pay_on_collection(self) -> bool: ...


def rules_from_item(item: CatalogueItem, window_tier: str) -> ItemRules:
    """The workflow's view of a catalogue item whose window sits at ``window_tier`` sites."""
    external = item.external_authority
    return ItemRules(
        item_code=item.code,
        kind=Kind(str(item.kind)),
        deciding_tier=str(item.tier),
        window=item.window,
        window_tier=str(window_tier),
        authority=AuthorityLevel(str(item.authority)),
        promised_days=item.promised_days,
        co_approvers=tuple(item.co_approvers),
        external_authority=external.zh if external is not None else None,
        overdue_means_approval=item.overdue_means_approval,
        absence_means_consent=item.absence_means_consent,
        window_department=item.department,
        pay_on_collection=item.pay_on_collection,
    )


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One action on a case, with the fields that action uses (the rest are ignored).

    ``reason``: reject, object, request_supplement, transfer, correct_registration (required),
    withdraw and record_external_decision (optional unless rejected). ``missing``: every
    material code missing (request_supplement, 一次性告知). ``deadline``: accept (the due time
    computed from working days, published to the origin). ``due_at``: the deadline whose
    passing deemed_consent and deemed_approval apply.
    """

    action: str
    reason: str = ""
    missing: tuple[str, ...] = ()
    provided: tuple[str, ...] = ()
    to_window: str | None = None
    to_site: str | None = None
    site: str | None = None
    authority: str | None = None
    outcome: str | None = None
    reference: str | None = None
    department: str | None = None
    assignee: str | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    rating: str | None = None
    indicators: Mapping[str, Any] = field(default_factory=dict)
    comment: str = ""
    method: str | None = None
    receiver_name: str = ""
    carrier: str | None = None
    tracking_no: str | None = None
    address: str | None = None
    deadline: datetime | None = None
    due_at: datetime | None = None
    document: str | None = None
    signal_kind: str | None = None
    rule: str | None = None
    card: Mapping[str, Any] | None = None
    ruling: str | None = None
    procedure: str | None = None
    days: int | None = None
    approved: bool | None = None
    callback: str | None = None
    """record_callback: how the call-back went (:data:`CALLBACK_OUTCOMES`); ``comment``
    is its note."""
    receipt_no: str | None = None
    """pay, void_receipt: the receipt's number (以票控费)."""
    amount_fen: int | None = None
    """pay, refund: the amount in fen."""
    approver: str | None = None
    """refund: the supervisor or department head who approved it."""
    reductions: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """accept: fee code -> (amount charged instead, reason), where the catalogue allows it."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput("action", f"unknown action; one of {', '.join(ACTIONS)}")
        object.__setattr__(self, "missing", tuple(self.missing))
        object.__setattr__(self, "provided", tuple(self.provided))
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The events to append, in order, and the case once they are applied."""

    events: tuple[EventDraft, ...]
    state: CaseState


WINDOW_ACTIONS = frozenset(
    {
        "claim",
        "release_claim",
        "accept",
        "request_supplement",
        "approve",
        "check",
        "reject",
        "report_up",
        "record_external_decision",
        "transfer",
        "issue_result",
        "start_special_procedure",
        "end_special_procedure",
        "request_extension",
    }
)
"""Actions only an operator of the case's own window (at the case's site) may take."""

_AT_ORIGIN_OR_WINDOW = frozenset(
    {"withdraw", "correct_registration", "supplement_provided", "hand_over", "rate"}
)


def _iso(at: datetime | None, name: str) -> str | None:
    return None if at is None else check_aware_utc(at, name).isoformat()


_MISROUTED_ACTIONS = frozenset({"claim", "release_claim", "transfer", "reject"})


def _check_window_actor(case: CaseState, rules: ItemRules, actor: Actor, action: str) -> None:
    if actor.window != case.window:
        raise NotPermitted("window", f"the case is at window {case.window}, not {actor.window}")
    if case.site is not None and actor.site != case.site:
        raise NotPermitted("site", f"the case is at site {case.site}, not {actor.site}")
    if rules.window != case.window:
        # Misrouted: the window holding it may only pass it on (转办) or refuse it.
        if action not in _MISROUTED_ACTIONS or case.state is not Status.ROUTED:
            raise NotPermitted(
                "window",
                f"window {case.window} is not authorised for {rules.item_code}: "
                f"transfer the case to {rules.window}",
            )
        return
    if actor.tier != rules.window_tier:
        raise NotPermitted("tier", f"window {rules.window} sits at {rules.window_tier} sites")


def _check_origin_or_window(case: CaseState, actor: Actor, *, origin_only: bool) -> None:
    """People at the registering site, or (unless ``origin_only``) the case's window."""
    if actor.site == case.origin_site and (actor.role is Role.AGENT or origin_only):
        return
    if not origin_only and actor.role is Role.WINDOW_OPERATOR and actor.window == case.window:
        return
    where = "the site that registered the case"
    raise NotPermitted("site", where if origin_only else f"{where} or its window")


def _decides(rules: ItemRules, action: str) -> None:
    if rules.authority is not AuthorityLevel.DECISION:
        raise NotPermitted(
            "authority",
            f"a {rules.authority} window does not decide this item: it may not {action}",
        )


def _rules_at_window(case: CaseState, rules: ItemRules) -> ItemRules:
    """The item's rules where the case now is: a case its preliminary window reviewed and
    handed on is decided by the window it was handed to (初审及组织办理权 organises, another
    section decides), so that window works it as a decision-level window."""
    window = case.window
    if (window is None or window == rules.window
            or rules.authority is not AuthorityLevel.PRELIMINARY
            or case.handed_on_from != rules.window):
        return rules
    return dataclasses.replace(rules, window=window, authority=AuthorityLevel.DECISION)


def _payloads(
    case: CaseState, rules: ItemRules, actor: Actor, request: ActionRequest, now: datetime
) -> list[tuple[EventType, dict[str, Any]]]:
    """The events ``request`` stands for, after the checks the catalogue decides."""
    action = request.action
    event_type = ACTIONS[action]
    if action in WINDOW_ACTIONS:
        _check_window_actor(case, rules, actor, action)
    if action in _AT_ORIGIN_OR_WINDOW:
        _check_origin_or_window(case, actor, origin_only=action in ("hand_over", "rate"))

    if action == "receipt":
        return [(event_type, {"tier": actor.tier})]
    if action == "route":
        return [(event_type, {"window": rules.window, "site": request.site or actor.site})]
    if action in ("claim", "release_claim", "approve"):
        return [(event_type, {})]
    if action == "reassign":
        if request.assignee is not None:
            check_username(request.assignee, "assignee")
        return [(event_type, {"to": request.assignee, "reason": request.reason.strip()})]
    if action == "accept":
        accepted: dict[str, Any] = {
            "kind": rules.kind.value,
            "promised_days": rules.promised_days,
            "deadline": _iso(request.deadline, "deadline"),
        }
        events: list[tuple[EventType, dict[str, Any]]] = [(event_type, accepted)]
        if rules.kind is Kind.JOINT:
            copies = {"departments": list(rules.co_approvers), "deadline": accepted["deadline"]}
            events.append((EventType.COPIES_SENT, copies))
        return events
    if action == "request_supplement":
        if not request.missing:
            raise InvalidInput("missing", "list every missing material at once (一次性告知)")
        return [(event_type, {"missing": list(request.missing), "reason": request.reason})]
    if action == "supplement_provided":
        provided = request.provided or case.missing
        still = [code for code in case.missing if code not in provided]
        if still:
            raise InvalidInput("provided", f"still missing: {', '.join(still)}")
        return [(event_type, {"provided": list(provided)})]
    if action == "check":
        _decides(rules, "check (核) the decision")
        return [(event_type, {})]
    if action == "reject":
        if case.state is Status.REVIEWED:
            _decides(rules, "reject after review")
        return [(event_type, {"reason": check_reason(request.reason)})]
    if action == "report_up":
        if rules.authority is AuthorityLevel.DECISION:
            raise NotPermitted("authority", "a decision-level window decides: no report up")
        authority = request.authority or rules.external_authority
        if not authority:
            raise InvalidInput("authority", "name the authority that decides the case")
        return [(event_type, {"authority": authority})]
    if action == "record_external_decision":
        if request.outcome not in [d.value for d in Decision]:
            raise InvalidInput("outcome", "approved or rejected")
        payload: dict[str, Any] = {
            "outcome": request.outcome,
            "authority": request.authority or case.reported_to or "",
            "reference": request.reference,
        }
        if request.outcome == Decision.REJECTED:
            payload["reason"] = check_reason(request.reason)
        return [(event_type, payload)]
    if action == "transfer":
        if case.state is Status.REVIEWED and rules.authority is not AuthorityLevel.PRELIMINARY:
            raise NotPermitted(
                "authority", "after review only a preliminary window hands a case on"
            )
        to_window = request.to_window or (rules.window if rules.window != case.window else None)
        if not to_window or to_window == case.window:
            raise InvalidInput("to_window", "name the window the case should go to")
        to_site = check_site_code(request.to_site or case.site or actor.site, "to_site")
        reason = check_reason(request.reason)
        return [
            (event_type, {"to_window": to_window, "to_site": to_site, "reason": reason})
        ]
    if action in ("co_approve", "object"):
        if actor.department not in rules.co_approvers:
            raise NotPermitted("department", f"{actor.department} is not a co-approving department")
        if case.site is not None and actor.site != case.site:
            raise NotPermitted("site", f"the case is at site {case.site}")
        payload = {"department": actor.department}
        if action == "object":
            payload["reason"] = check_reason(request.reason)
        return [(event_type, payload)]
    if action == "deemed_consent":
        if not rules.absence_means_consent:
            raise NotPermitted("absence_means_consent", "this item does not deem absence consent")
        _deadline_passed(request, now)
        departments = [request.department] if request.department else case.pending_departments
        if not departments:
            raise StateConflict("department", "every department has answered")
        return [(event_type, {"department": d}) for d in departments]
    if action == "deemed_approval":
        if not rules.overdue_means_approval:
            raise NotPermitted("overdue_means_approval", "this item is not approved when overdue")
        _deadline_passed(request, now)
        return [(event_type, {"due_at": _iso(request.due_at, "due_at")})]
    if action == "issue_result":
        if case.fees_unpaid and not rules.pay_on_collection:
            raise StateConflict("fees", f"{case.fee_paid} of the {case.fee_due} fen assessed "
                                "are paid: the result is issued once the fees are")
        return [(event_type, {"document": request.document, "reference": request.reference})]
    if action in ("pay", "void_receipt", "refund"):
        return [(event_type, _fee_payload(case, actor, request))]
    if action == "withdraw":
        return [(event_type, {"reason": request.reason.strip() or None})]
    if action == "correct_registration":
        if not request.changes:
            raise InvalidInput("changes", "name at least one corrected field")
        return [
            (event_type, {"changes": dict(request.changes), "reason": check_reason(request.reason)})
        ]
    if action == "hand_over":
        return [(event_type, handover_payload(
            request.method, request.receiver_name, carrier=request.carrier,
            tracking_no=request.tracking_no, address=request.address))]
    if action == "rate":
        return [(event_type, rating_payload(request.rating, channel="window",
                                            indicators=dict(request.indicators),
                                            comment=request.comment))]
    if action == "urge":
        return [(event_type, {"reason": check_reason(request.reason)})]
    if action == "appeal_card":
        if actor.role is Role.DEPARTMENT_HEAD:
            _check_department_head(case, rules, actor)
        elif actor.window != case.window:
            raise NotPermitted("window", f"the case's window {case.window} appeals its cards")
        return [(event_type, {"card": _card(request), "reason": check_reason(request.reason)})]
    if action == "rule_card":
        if request.ruling not in CARD_RULINGS:
            raise InvalidInput("ruling", f"one of {', '.join(CARD_RULINGS)}")
        return [(event_type, {"card": _card(request), "ruling": request.ruling,
                              "reason": check_reason(request.reason)})]
    if action == "signal":
        if request.signal_kind not in SIGNAL_KINDS:
            raise InvalidInput("signal_kind", f"one of {', '.join(SIGNAL_KINDS)}")
        if request.rule not in SIGNAL_RULES:
            raise InvalidInput("rule", f"one of {', '.join(SIGNAL_RULES)}")
        return [(event_type, {"kind": request.signal_kind, "rule": request.rule,
                              "reason": check_reason(request.reason)})]
    if action in ("start_special_procedure", "end_special_procedure"):
        if request.procedure not in SPECIAL_PROCEDURES:
            raise InvalidInput("procedure", f"one of {', '.join(SPECIAL_PROCEDURES)}")
        if action == "end_special_procedure":
            return [(event_type, {"procedure": request.procedure})]
        return [(event_type, {"procedure": request.procedure,
                              "reason": check_reason(request.reason)})]
    if action == "request_extension":
        if request.days is None:
            raise InvalidInput("days", "the working days the extension asks for")
        return [(event_type, {"days": request.days, "reason": check_reason(request.reason)})]
    if action == "decide_extension":
        _check_department_head(case, rules, actor)
        if request.approved is None:
            raise InvalidInput("approved", "approve (true) or refuse (false) the extension")
        if not request.approved:
            return [(event_type, {"approved": False, "days": 0,
                                  "reason": check_reason(request.reason)})]
        days = request.days if request.days is not None else case.extension_requested
        decided: dict[str, Any] = {"approved": True, "days": days}
        if request.reason.strip():
            decided["reason"] = request.reason.strip()
        return [(event_type, decided)]
    if action == "answer_rectification":
        _check_rectification_department(case, actor)
        return [(event_type, {"reason": check_reason(request.reason)})]
    if action == "record_callback":
        if actor.role is not Role.SUPERVISOR:
            _check_rectification_department(case, actor)
        if request.callback not in CALLBACK_OUTCOMES:
            raise InvalidInput("callback", f"one of {', '.join(CALLBACK_OUTCOMES)}")
        note = request.comment.strip()
        return [(event_type, {"outcome": request.callback, **({"note": note} if note else {})})]
    raise InvalidInput("action", f"{action} is answered with refusal_for(), not perform()")


def _fee_payload(case: CaseState, actor: Actor, request: ActionRequest) -> dict[str, Any]:
    """A finance clerk's payment, void or refund, at the site deciding the case."""
    if case.site is not None and actor.site != case.site:
        raise NotPermitted("site", f"the case is at site {case.site}, not {actor.site}")
    if request.action == "void_receipt":
        return {"receipt_no": check_receipt_no(request.receipt_no, "receipt_no"),
                "reason": check_reason(request.reason)}
    amount = request.amount_fen
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_FEN:
        raise InvalidInput("amount_fen", "whole fen, more than 0")
    if request.action == "pay":
        return {"receipt_no": check_receipt_no(request.receipt_no, "receipt_no"),
                "amount_fen": amount, "window": actor.window}
    return {"amount_fen": amount, "reason": check_reason(request.reason),
            "approver": check_username(request.approver, "approver")}


def _check_rectification_department(case: CaseState, actor: Actor) -> None:
    """The department a bad rating's rectification is assigned to, at the deciding site:
    its window operators and its head."""
    rectification = case.rectification
    if rectification is None:
        raise StateConflict("rectification", "no rectification is open for this case")
    if case.site is not None and actor.site != case.site:
        raise NotPermitted("site", f"the case is at site {case.site}, not {actor.site}")
    if actor.department != rectification.department:
        raise NotPermitted("department", f"the rectification is {rectification.department}'s,"
                           f" not {actor.department}'s")


def _check_department_head(case: CaseState, rules: ItemRules, actor: Actor) -> None:
    """The head of the department whose window holds the case, at the case's site."""
    if case.site is not None and actor.site != case.site:
        raise NotPermitted("site", f"the case is at site {case.site}, not {actor.site}")
    if rules.window_department is None or actor.department != rules.window_department:
        raise NotPermitted("department", f"the case's window belongs to "
                           f"{rules.window_department}, not to {actor.department}")


def _card(request: ActionRequest) -> dict[str, Any]:
    """The contested card's key as the events carry it."""
    card = request.card
    if not isinstance(card, Mapping):
        raise InvalidInput("card", "the card's origin, epoch and seq")
    return {"origin": card.get("origin"), "epoch": card.get("epoch"), "seq": card.get("seq")}


def _deadline_passed(request: ActionRequest, now: datetime) -> None:
    if request.due_at is None:
        raise InvalidInput("due_at", "the deadline that passed is required")
    if check_aware_utc(now, "now") < check_aware_utc(request.due_at, "due_at"):
        raise StateConflict("due_at", "the deadline has not passed yet")


def perform(
    case: CaseState, rules: ItemRules, actor: Actor, request: ActionRequest, now: datetime
) -> ActionResult:
    """The events ``actor``'s ``request`` appends to ``case`` at ``now``, or why not.

    Checks in order: role, tier, then the window, site, department or authority level the
    catalogue requires, the request's own fields, and last the state machine (state, claim,
    一审一核). Nothing is returned unless every event applies.
    """
    now = check_aware_utc(now, "now")
    rules = _rules_at_window(case, rules)
    event_type = ACTIONS[request.action]
    if actor.role not in EVENT_ROLES[event_type]:
        roles = ", ".join(sorted(EVENT_ROLES[event_type]))
        raise NotPermitted("role", f"{request.action} is for {roles}, not {actor.role}")
    if actor.tier not in EVENT_TIERS[event_type]:
        raise NotPermitted("tier", f"{request.action} is not done at a {actor.tier} site")
    drafts: list[EventDraft] = []
    state = case
    for draft_type, payload in _payloads(case, rules, actor, request, now):
        draft = EventDraft(draft_type, actor.as_event_actor, now, payload)
        state = apply(state, draft)
        drafts.append(draft)
    return ActionResult(tuple(drafts), state)


_PROBE_REASON = "probe: a clear written reason"


def _probe_card(case: CaseState, action: str) -> dict[str, Any]:
    """The card an appeal (or a ruling) would name now; a key no card has when none may."""
    keys: list[tuple[str, int, int]] = []
    if action == "rule_card":
        keys = [key for key, ruling in case.appeals if ruling is None]
    origin, epoch, seq = keys[0] if keys else ("000000", 1, 1)
    return {"origin": origin, "epoch": epoch, "seq": seq}


def _probe_receipt(case: CaseState) -> str:
    """A receipt a void would name now (one not voided yet), or one no case has."""
    return next((n for n, _, voided in case.receipts if not voided), "PROBE-0")


def _probe(case: CaseState, rules: ItemRules, actor: Actor, action: str, now: datetime) -> bool:
    request = ActionRequest(
        action=action,
        reason=_PROBE_REASON,
        missing=("PROBE",),
        to_window=f"{case.window}~" if case.window else "probe",
        authority=rules.external_authority or "probe authority",
        outcome=Decision.APPROVED.value,
        changes={"probe": True},
        rating=Rating.SATISFIED.value,
        method=HANDOVER_METHODS[0],
        receiver_name=_PROBE_REASON,
        due_at=now,
        signal_kind=SIGNAL_KINDS[-1],
        rule=SIGNAL_RULES[-1],
        card=_probe_card(case, action),
        ruling=CARD_RULINGS[0],
        procedure=case.open_procedure or SPECIAL_PROCEDURES[0],
        days=1,
        approved=True,
        callback=CALLBACK_OUTCOMES[0],
        receipt_no="PROBE-1" if action != "void_receipt" else _probe_receipt(case),
        amount_fen=1,
        approver="probe",
    )
    try:
        perform(case, rules, actor, request, now)
    except (NotPermitted, StateConflict):
        return False
    return True


def allowed_actions(case: CaseState, rules: ItemRules, actor: Actor, now: datetime) -> list[str]:
    """The actions ``actor`` may take on ``case`` now, as :func:`perform` would judge them
    (for the buttons of the case page). ``refuse`` is left out: it answers an event.
    """
    now = check_aware_utc(now, "now")
    return [
        action
        for action in machine_actions(case, actor)
        if action != "refuse" and _probe(case, rules, actor, action, now)
    ]


@dataclass(frozen=True, slots=True)
class Admission:
    """What the owner of a case does with an event that reached it: apply it, or keep it and
    answer it with a refusal (``refusal`` not ``None``)."""

    state: CaseState
    refusal: EventDraft | None


def admit(case: CaseState, event: CaseEvent, owner: Actor, now: datetime) -> Admission:
    """Apply an event that arrived from another site, or refuse it.

    An event the case's state no longer allows (a supplement after the decision) is kept in
    the log and answered with a ``refused`` event naming it and why; :func:`fold` then skips
    it. ``owner`` is the owning site's ``system`` actor.
    """
    if owner.role is not Role.SYSTEM:
        raise NotPermitted("role", "refusals are the owning site's, as system")
    try:
        return Admission(apply(case, event), None)
    except (StateConflict, NotPermitted) as exc:
        refusal = refusal_for(event, exc, owner, now)
    after = apply(case, refusal)
    return Admission(dataclasses.replace(after, events=after.events + 1), refusal)


def refusal_for(event: CaseEvent, error: DomainError, owner: Actor, now: datetime) -> EventDraft:
    """The ``refused`` event that answers ``event``, carrying the error's reason."""
    origin, epoch, seq = event.key
    return EventDraft(
        EventType.REFUSED,
        owner.as_event_actor,
        check_aware_utc(now, "now"),
        {
            "refused": {"origin": origin, "epoch": epoch, "seq": seq},
            "event_type": event.type.value,
            "reason": error.reason,
            "field": error.field,
        },
    )
