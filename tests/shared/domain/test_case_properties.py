"""Properties of the case machine: no sequence of events reaches a state the tables forbid,
an illegal event changes nothing, and the fold is deterministic and incremental."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from shared.domain.case_events import (
    DECIDING_TIERS,
    ITEM_KINDS,
    Actor,
    CaseEvent,
    EventActor,
    EventType,
    Rating,
    Role,
)
from shared.domain.case_state import (
    ACTIONS,
    EVENT_ROLES,
    STAGES,
    TRANSITIONS,
    CaseState,
    Outcome,
    Status,
    apply,
    fold,
    fold_more,
)
from shared.domain.errors import InvalidInput, NotPermitted, StateConflict
from shared.domain.window_workflow import ItemRules, allowed_actions
from tests.shared.domain.test_case_state import CASE_ID, T0
from tests.shared.domain.test_window_workflow import (
    AGENT,
    COUNTY,
    FAR_AGENT,
    HUB,
    IMMEDIATE,
    JOINT,
    PRELIMINARY,
    PROMISED,
    REPORT_UP,
    SUPERVISOR,
    Desk,
    operator,
)

PROPERTY = settings(max_examples=150, deadline=None)

USERS = ["op.a", "op.b", "agent.li", "sup.chen", "hub"]
DEPARTMENTS = ["SJ", "SW", "GA", "ZR"]
ORIGINS = ["431002001201", "431000"]
COURIER = {"receiver_name": "李四", "carrier": "ems", "tracking_no": "EMS12345678",
           "address": "良田镇中心街1号"}
REASON = "材料不符合法定形式要求"


def payload_for(event_type: EventType, pick: Callable[[Sequence[Any]], Any]) -> dict[str, Any]:
    """A well-formed payload of ``event_type`` (whether it is legal now is not its concern);
    ``pick`` chooses among the values a field may take."""
    payloads: dict[EventType, dict[str, Any]] = {
        EventType.REGISTERED: {"item_code": "X-1", "kind": pick(sorted(ITEM_KINDS)),
                               "window": "W-1"},
        EventType.MATERIAL_ADDED: {"code": "PHOTO"},
        EventType.REGISTRATION_CORRECTED: {"changes": {"phone": "13800138000"}, "reason": REASON},
        EventType.RECEIVED: {"tier": pick(DECIDING_TIERS)},
        EventType.REFERRED: {"to": "431002002", "area": "431002002",
                             "reason": "申请人户籍地在 431002002"},
        EventType.ROUTED: {"window": "W-1", "site": "431000"},
        EventType.TRANSFERRED: {"to_window": "W-2", "to_site": "431000", "reason": REASON},
        EventType.REASSIGNED: {"to": pick([None, "op.a", "op.b"])},
        EventType.ACCEPTED: {"kind": pick(sorted(ITEM_KINDS))},
        EventType.COPIES_SENT: {"departments": ["SJ", "SW", "GA"]},
        EventType.SUPPLEMENT_REQUESTED: {"missing": ["A", "B"], "reason": REASON},
        EventType.REJECTED: {"reason": REASON},
        EventType.REPORTED_UP: {"authority": "湖南省自然资源厅"},
        EventType.EXTERNAL_DECISION_RECORDED: {"outcome": pick(["approved", "rejected"]),
                                               "authority": "湖南省自然资源厅", "reason": REASON},
        EventType.CO_APPROVED: {"department": pick(DEPARTMENTS)},
        EventType.DEEMED_CONSENT: {"department": pick(DEPARTMENTS)},
        EventType.OBJECTED: {"department": pick(DEPARTMENTS), "reason": REASON},
        EventType.RESULT_HANDED_OVER: {"method": "in_person", "receiver_name": "李四"},
        EventType.RATED: {"rating": pick([r.value for r in Rating])},
        EventType.REFUSED: {"refused": {"origin": "431000", "epoch": 1, "seq": 9999},
                            "event_type": "claimed", "reason": "late"},
        EventType.ERASED: {"reason": "the retention period is over", "policy": "withdrawn: 3"},
        EventType.DEADLINE_SET: {"deadline": "2026-05-08T16:00:00+00:00", "cause": "resumed"},
        EventType.SIGNALLED: {"kind": pick(["warning", "yellow_card", "red_card"]),
                              "rule": "promised_passed", "reason": REASON},
        EventType.URGED: {"reason": REASON},
        EventType.CARD_APPEALED: {"card": {"origin": "431000", "epoch": 1, "seq": 1},
                                  "reason": REASON},
        EventType.CARD_RULED: {"card": {"origin": "431000", "epoch": 1, "seq": 1},
                               "ruling": pick(["upheld", "withdrawn"]), "reason": REASON},
        EventType.SPECIAL_PROCEDURE_STARTED: {"procedure": pick(["hearing", "inspection"]),
                                              "reason": REASON},
        EventType.SPECIAL_PROCEDURE_ENDED: {"procedure": pick(["hearing", "inspection"])},
        EventType.EXTENSION_REQUESTED: {"days": pick([5, 10]), "reason": REASON},
        EventType.EXTENSION_DECIDED: pick([{"approved": True, "days": 5},
                                           {"approved": False, "days": 0, "reason": REASON}]),
        EventType.RECTIFICATION_OPENED: {"department": "SJ", "due": "2026-06-01T16:00:00+00:00"},
        EventType.RECTIFICATION_ANSWERED: {"reason": REASON},
        EventType.CALLBACK_RECORDED: {"outcome": pick(["satisfied", "unreachable"])},
        EventType.FEES_ASSESSED: {"fees": [{"code": "FEE", "basis": "依据", "standard_fen": 8000,
                                            "amount_fen": 8000}], "total_fen": 8000},
        EventType.FEE_PAID: {"receipt_no": pick(["CZ-0001", "CZ-0002"]),
                             "amount_fen": pick([3000, 8000]), "window": "W-CZ-01"},
        EventType.RECEIPT_VOIDED: {"receipt_no": pick(["CZ-0001", "CZ-0002"]),
                                   "reason": REASON},
        EventType.FEE_REFUNDED: {"amount_fen": pick([1000, 9000]), "reason": REASON,
                                 "approver": "head"},
        EventType.CONSULTATION_RECORDED: {
            "channel": pick(["phone", "window", "online"]),
            "kind": pick(["consultation", "complaint"]), "name": "张三",
            "phone": "13800138000", "text": "材料要求是什么", "department": "SJ"},
        EventType.CONSULTATION_ANSWERED: {
            "consultation": {"origin": "431000", "epoch": 1, "seq": pick([1, 2])},
            "answer": REASON},
        EventType.COURIER_ADDRESS_GIVEN: {"recipient": {
            "name": "李四", "phone": "13800138000", "area": pick(["431002", "431002001"]),
            "address": "良田镇中心街1号"}},
    }
    return payloads.get(event_type, {})


def check_invariants(case: CaseState) -> None:
    """What every reachable state honours."""
    assert case.state in TRANSITIONS
    assert case.stage in STAGES
    if case.state is not Status.NEW:
        assert case.kind is not None and case.kind_history[-1][0] is case.kind
    if case.checker is not None:
        assert case.checker != case.reviewer
    if case.state in (Status.DECIDED, Status.RESULT_ISSUED, Status.HANDED_OVER):
        assert case.outcome in (Outcome.APPROVED, Outcome.REJECTED)
        assert case.decided_at is not None
    assert (case.state is Status.WITHDRAWN) == (case.outcome is Outcome.WITHDRAWN)
    supplement = case.state in (Status.AWAITING_SUPPLEMENT, Status.PAUSED_FOR_SUPPLEMENT)
    assert bool(case.missing) == supplement
    assert case.is_paused == (case.state is Status.PAUSED_FOR_SUPPLEMENT)
    if case.state is Status.JOINT_APPROVAL:
        assert case.pending_departments
    if case.outcome is Outcome.REJECTED:
        assert case.reason and case.kind == "returned"
    # Clock stops are what the working-day deadline accepts: ordered, after acceptance.
    assert not case.procedures or case.accepted_at is not None
    if case.extension_days:
        assert case.extension_approved and case.extension_requested is not None
        assert case.extension_days <= case.extension_requested
    # What was paid counts receipts not voided, less refunds, and never goes below nothing.
    assert case.fee_paid >= 0
    assert len({n for n, _, _ in case.receipts}) == len(case.receipts)  # a number used once
    assert not case.receipts or case.fee_due is not None
    # A rectification follows a bad rating only, and its call-back the department's answer.
    if case.rectification is not None:
        assert case.rating in (Rating.DISSATISFIED, Rating.VERY_DISSATISFIED)
        assert case.rectification.callback is None or case.rectification.answered_at
    floor = case.accepted_at
    for start, end in case.clock_stops:
        assert floor is not None and start >= floor
        if end is not None:
            assert end >= start
        floor = end


@PROPERTY
@given(st.data())
def test_no_event_sequence_reaches_a_forbidden_state(data: st.DataObject) -> None:
    case = CaseState()
    accepted: list[CaseEvent] = []
    seqs = dict.fromkeys(ORIGINS, 0)
    clock = T0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        # Mostly legal events, rarely the ones that end a case early.
        legal = sorted(set(TRANSITIONS[case.state]) - {EventType.WITHDRAWN, EventType.REFUSED})
        if legal and data.draw(st.integers(0, 5)) > 0:
            event_type = data.draw(st.sampled_from(legal))
        else:
            event_type = data.draw(st.sampled_from(list(EventType)))
        if data.draw(st.integers(0, 3)) > 0:
            role = data.draw(st.sampled_from(sorted(EVENT_ROLES[event_type])))
        else:
            role = data.draw(st.sampled_from(list(Role)))
        username = data.draw(st.sampled_from(USERS))
        if case.claimed_by and data.draw(st.integers(0, 3)) > 0:
            username = case.claimed_by  # the claim holder acts most of the time
        actor = EventActor(username, role)
        origin = data.draw(st.sampled_from(ORIGINS))
        seqs[origin] += 1
        # Origins' clocks disagree a little: times go back as well as forward.
        clock += timedelta(minutes=data.draw(st.integers(-90, 600)))
        record = CaseEvent(CASE_ID, origin, 1, seqs[origin], event_type, actor, clock,
                          payload_for(event_type, lambda v: data.draw(st.sampled_from(v))))
        before = case
        try:
            case = apply(case, record)
        except (StateConflict, NotPermitted):
            assert case is before  # nothing changed
            continue
        assert event_type in TRANSITIONS[before.state]
        assert role in EVENT_ROLES[event_type]
        accepted.append(record)
        note(f"reached {case.state}")
        assert case.events == len(accepted)
        check_invariants(case)

    # Deterministic: the same events give the same state, however they are folded.
    assert fold(accepted) == case
    assert fold(list(accepted)) == fold(accepted)
    cut = data.draw(st.integers(0, len(accepted)), label="cut")
    assert fold_more(fold(accepted[:cut]), accepted[cut:]) == case
    state = CaseState()
    for event in accepted:
        state = fold_more(state, [event])
    assert state == case


@PROPERTY
@given(st.sampled_from([s for s in Status if s is not Status.NEW]),
       st.sampled_from(list(EventType)), st.sampled_from(list(Role)))
def test_every_state_answers_every_event_with_a_state_or_a_typed_error(
    state: Status, event_type: EventType, role: Role
) -> None:
    case = CaseState(state=state, kind=next(iter(ITEM_KINDS)),
                     kind_history=((next(iter(ITEM_KINDS)), T0),), claimed_by="op.a")
    event = CaseEvent(CASE_ID, "431000", 1, 1, event_type, EventActor("op.a", role),
                      T0 + timedelta(days=1), payload_for(event_type, lambda v: v[0]))
    try:
        after = apply(case, event)
    except (StateConflict, NotPermitted):
        return
    assert event_type in TRANSITIONS[state] and role in EVENT_ROLES[event_type]
    assert after.state in TRANSITIONS


# -- the workflow as a state machine -----------------------------------------------------------

CLAIMABLE = {s for s, row in TRANSITIONS.items() if EventType.CLAIMED in row}
ALL_RULES = [IMMEDIATE, PROMISED, JOINT, REPORT_UP, PRELIMINARY]
DEADLINE = T0 + timedelta(days=30)


def people(rules: ItemRules) -> list[Actor]:
    site, tier = (COUNTY, "county") if rules.window_tier == "county" else ("431000", "city")
    dept = rules.window.split("-")[1]
    return [
        operator("op.a", rules.window, dept, site, tier),
        operator("op.b", rules.window, dept, site, tier),
        operator("op.c", "W-XX-01", "XX", site, tier),
        Actor("head", Role.DEPARTMENT_HEAD, site, tier, department=dept),
        operator("sj.1", "W-SJ-01", "SJ"),
        operator("sw.1", "W-SW-01", "SW"),
        operator("ga.1", "W-GA-01", "GA"),
        AGENT,
        FAR_AGENT,
        SUPERVISOR,
        HUB,
        Actor("node", Role.SYSTEM, COUNTY, "county"),
    ]


class WorkflowMachine(RuleBasedStateMachine):
    """Anyone tries anything; the log and the state the workflow reports never disagree and
    every reached state honours the invariants."""

    desk: Desk
    actors: list[Actor]

    @initialize(rules=st.sampled_from(ALL_RULES))
    def start(self, rules: ItemRules) -> None:
        self.desk = Desk(rules)
        self.actors = people(rules)

    @rule(
        who=st.integers(0, 11),
        action=st.sampled_from([a for a in ACTIONS if a != "refuse"]),
        reason=st.sampled_from(["", "不行", REASON]),
        missing=st.sampled_from([(), ("A",), ("A", "B")]),
        outcome=st.sampled_from(["approved", "rejected"]),
        late=st.booleans(),
    )
    def act(self, who: int, action: str, reason: str, missing: tuple[str, ...], outcome: str,
            late: bool) -> None:
        before = self.desk.state
        length = len(self.desk.events)
        if late:
            self.desk.now = max(self.desk.now, DEADLINE)
        fields: dict[str, Any] = {
            "reason": reason, "missing": missing, "outcome": outcome, "due_at": DEADLINE,
            "to_window": "W-SJ-03", "authority": "审批科", "changes": {"phone": "13800138000"},
            "rating": "satisfied", "method": "courier", "assignee": "op.b", **COURIER,
            "procedure": "hearing", "days": 5, "approved": outcome == "approved",
        }
        try:
            state = self.desk.do(self.actors[who], action, **fields)
            note(f"workflow reached {state.state}")
        except (StateConflict, NotPermitted, InvalidInput):
            assert len(self.desk.events) == length
            assert self.desk.state == before

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """Take an action the case page offers someone (so cases get far), rarely withdrawal."""
        offered = [
            (actor, action)
            for actor in self.actors
            for action in allowed_actions(self.desk.state, self.desk.rules, actor, self.desk.now)
            if action not in ("withdraw", "correct_registration")
        ]
        if not offered:
            return
        actor, action = data.draw(st.sampled_from(offered))
        fields: dict[str, Any] = {
            "reason": REASON, "missing": ("A", "B"), "due_at": self.desk.now,
            "to_window": "W-SJ-03", "authority": "审批科", "changes": {"phone": "13800138000"},
            "outcome": data.draw(st.sampled_from(["approved", "rejected"])),
            "rating": "satisfied", "method": "courier", "assignee": "op.b", **COURIER,
            "signal_kind": "red_card", "rule": "no_review_check",
            "card": {"origin": "431000", "epoch": 1, "seq": 1}, "ruling": "withdrawn",
            "procedure": self.desk.state.open_procedure or "hearing",
            "days": 5 if action == "request_extension" else None, "approved": True,
        }
        state = self.desk.do(actor, action, **fields)  # offered means it must succeed
        note(f"workflow reached {state.state}")

    @invariant()
    def consistent(self) -> None:
        if hasattr(self, "desk"):
            case = self.desk.state
            check_invariants(case)
            assert case.events == len(self.desk.events)
            if case.claimed_by is not None:
                assert case.state in CLAIMABLE


WorkflowMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                             deadline=None)
test_workflow_machine = WorkflowMachine.TestCase

