"""The case state machine driven directly: tables, guards, the fold, refusals, the docs table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.case_events import CaseEvent, EventActor, EventDraft, EventType, Kind, Role
from shared.domain.case_state import (
    EVENT_ROLES,
    STAGES,
    TRANSITIONS,
    CaseState,
    JointAnswer,
    Outcome,
    Status,
    apply,
    fold,
    fold_more,
    transition_table_markdown,
)
from shared.domain.errors import InvalidInput, NotPermitted, StateConflict

CASE_ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
VILLAGE = "431002001201"
TOWNSHIP = "431002001"
CITY = "431000"
T0 = datetime(2025, 9, 1, 1, 0, tzinfo=UTC)

AGENT = EventActor("agent.li", Role.AGENT)
OP_A = EventActor("op.wang", Role.WINDOW_OPERATOR)
OP_B = EventActor("op.zhao", Role.WINDOW_OPERATOR)
SYSTEM = EventActor("hub", Role.SYSTEM)
SUPERVISOR = EventActor("sup.chen", Role.SUPERVISOR)


class Log:
    """A case log under construction: each origin's events get the next seq, an hour apart."""

    def __init__(self, case_id: str = CASE_ID) -> None:
        self.case_id = case_id
        self.events: list[CaseEvent] = []
        self.seqs: dict[str, int] = {}
        self.clock = T0

    def add(
        self,
        origin: str,
        event_type: EventType,
        actor: EventActor,
        payload: dict[str, Any] | None = None,
    ) -> CaseEvent:
        self.seqs[origin] = self.seqs.get(origin, 0) + 1
        self.clock += timedelta(hours=1)
        event = CaseEvent(
            self.case_id, origin, 1, self.seqs[origin], event_type, actor, self.clock,
            payload or {},
        )
        self.events.append(event)
        return event

    @property
    def state(self) -> CaseState:
        return fold(self.events)


def registered(log: Log, kind: str = "promised") -> Log:
    log.add(VILLAGE, EventType.REGISTERED, AGENT,
            {"item_code": "MZ-0410", "kind": kind, "window": "W-MZ-01"})
    return log


def at_window(kind: str = "promised") -> Log:
    log = registered(Log(), kind)
    log.add(CITY, EventType.RECEIVED, SYSTEM, {"tier": "city"})
    log.add(CITY, EventType.ROUTED, SYSTEM, {"window": "W-MZ-01", "site": CITY})
    return log


def accepted(kind: str = "promised") -> Log:
    log = at_window(kind)
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.ACCEPTED, OP_A, {"kind": kind})
    return log


def draft(event_type: EventType, actor: EventActor, payload: dict[str, Any] | None = None,
          at: datetime | None = None) -> EventDraft:
    return EventDraft(event_type, actor, at or T0 + timedelta(days=3), payload or {})


def test_empty_log_is_new_and_only_registration_starts_a_case() -> None:
    assert fold([]) == CaseState()
    assert CaseState().stage == "new"
    with pytest.raises(StateConflict) as err:
        apply(CaseState(), draft(EventType.ACCEPTED, OP_A, {"kind": "promised"}))
    assert err.value.field == "state"


def test_registration_sets_identity_kind_and_stage() -> None:
    state = registered(Log()).state
    assert state.state is Status.REGISTERED
    assert state.case_id == CASE_ID
    assert state.origin_site == VILLAGE
    assert state.item_code == "MZ-0410"
    assert state.kind is Kind.PROMISED
    assert state.kind_history == ((Kind.PROMISED, T0 + timedelta(hours=1)),)
    assert state.stage == "queued_at_origin"
    assert state.events == 1


@pytest.mark.parametrize(
    ("tier", "stage"),
    [("city", "received_by_city"), ("township", "at_township"), ("county", "at_county")],
)
def test_receipt_stage_names_the_receiving_tier(tier: str, stage: str) -> None:
    log = registered(Log())
    log.add(TOWNSHIP, EventType.RECEIVED, SYSTEM, {"tier": tier})
    assert log.state.stage == stage
    assert stage in STAGES


def test_every_state_has_a_stage_and_every_target_is_a_state() -> None:
    for state, row in TRANSITIONS.items():
        assert CaseState(state=state).stage in STAGES
        for target in row.values():
            assert target in TRANSITIONS


def test_wrong_role_is_not_permitted_and_changes_nothing() -> None:
    state = at_window().state
    with pytest.raises(NotPermitted) as err:
        apply(state, draft(EventType.CLAIMED, AGENT))
    assert err.value.field == "role"
    assert Role.AGENT not in EVENT_ROLES[EventType.CLAIMED]
    assert state == at_window().state


def test_claim_is_held_by_one_operator() -> None:
    state = at_window().state
    claimed = apply(state, draft(EventType.CLAIMED, OP_A))
    assert claimed.claimed_by == "op.wang"
    with pytest.raises(StateConflict, match=r"claimed by op\.wang"):
        apply(claimed, draft(EventType.CLAIMED, OP_B))
    with pytest.raises(StateConflict, match=r"claimed by op\.wang"):
        apply(claimed, draft(EventType.ACCEPTED, OP_B, {"kind": "promised"}))
    with pytest.raises(NotPermitted):
        apply(claimed, draft(EventType.CLAIM_RELEASED, OP_B))
    released = apply(claimed, draft(EventType.CLAIM_RELEASED, OP_A))
    assert released.claimed_by is None
    assert apply(released, draft(EventType.CLAIMED, OP_B)).claimed_by == "op.zhao"


def test_work_needs_a_claim() -> None:
    with pytest.raises(StateConflict, match="claim the case"):
        apply(at_window().state, draft(EventType.ACCEPTED, OP_A, {"kind": "promised"}))


def test_supervisor_reassigns_the_claim() -> None:
    log = at_window()
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.REASSIGNED, SUPERVISOR, {"to": "op.zhao"})
    assert log.state.claimed_by == "op.zhao"


def test_review_then_check_by_another_operator_decides() -> None:
    log = accepted()
    log.add(CITY, EventType.REVIEWED, OP_A)
    assert log.state.claimed_by is None  # the checker can now claim it
    log.add(CITY, EventType.CLAIMED, OP_B)
    log.add(CITY, EventType.CHECKED, OP_B)
    state = log.state
    assert (state.state, state.outcome) == (Status.DECIDED, Outcome.APPROVED)
    assert (state.reviewer, state.checker) == ("op.wang", "op.zhao")
    assert state.decided_at == log.events[-1].at
    assert state.accepted_at == log.events[4].at


def test_reviewer_may_not_check_the_same_case() -> None:
    log = accepted()
    log.add(CITY, EventType.REVIEWED, OP_A)
    log.add(CITY, EventType.CLAIMED, OP_A)
    state = log.state
    with pytest.raises(NotPermitted, match="一审一核") as err:
        apply(state, draft(EventType.CHECKED, OP_A))
    assert err.value.field == "checker"
    with pytest.raises(NotPermitted, match="一审一核"):
        apply(state, draft(EventType.REJECTED, OP_A, {"reason": "材料与事实不符，不予许可"}))


def test_supplement_pauses_the_clock_and_resumes() -> None:
    log = accepted()
    log.add(CITY, EventType.SUPPLEMENT_REQUESTED, OP_A,
            {"missing": ["ID_CARD", "HOUSEHOLD"], "reason": "身份证与户口簿未提交"})
    paused = log.state
    assert paused.state is Status.PAUSED_FOR_SUPPLEMENT
    assert paused.kind is Kind.SUPPLEMENT
    assert paused.missing == ("ID_CARD", "HOUSEHOLD")
    assert paused.pauses == ((log.events[-1].at, None),)
    assert paused.is_paused and paused.stage == "awaiting_supplement"
    log.add(VILLAGE, EventType.SUPPLEMENT_PROVIDED, AGENT)
    resumed = log.state
    assert resumed.state is Status.ACCEPTED
    assert resumed.missing == ()
    assert resumed.pauses == ((log.events[-2].at, log.events[-1].at),)
    assert [k for k, _ in resumed.kind_history] == [Kind.PROMISED, Kind.SUPPLEMENT, Kind.PROMISED]


def test_supplement_before_acceptance_does_not_pause_a_clock_that_has_not_started() -> None:
    log = at_window()
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.SUPPLEMENT_REQUESTED, OP_A,
            {"missing": ["ID_CARD"], "reason": "身份证复印件缺失"})
    assert log.state.state is Status.AWAITING_SUPPLEMENT
    assert log.state.pauses == ()
    log.add(VILLAGE, EventType.SUPPLEMENT_PROVIDED, AGENT)
    after = log.state
    assert after.state is Status.ROUTED


def test_only_one_supplement_notice_per_case() -> None:
    log = at_window()
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.SUPPLEMENT_REQUESTED, OP_A,
            {"missing": ["ID_CARD"], "reason": "身份证复印件缺失"})
    log.add(VILLAGE, EventType.SUPPLEMENT_PROVIDED, AGENT)
    log.add(CITY, EventType.CLAIMED, OP_A)
    log.add(CITY, EventType.ACCEPTED, OP_A, {"kind": "promised"})
    with pytest.raises(StateConflict, match="一次性告知"):
        apply(log.state, draft(EventType.SUPPLEMENT_REQUESTED, OP_A,
                               {"missing": ["PHOTO"], "reason": "照片不符合要求"}))


def test_rejection_makes_a_returned_case_with_its_reason() -> None:
    log = accepted()
    log.add(CITY, EventType.REJECTED, OP_A, {"reason": "申请人不符合低保条件"})
    state = log.state
    assert (state.state, state.outcome, state.kind) == (
        Status.DECIDED, Outcome.REJECTED, Kind.RETURNED)
    assert state.reason == "申请人不符合低保条件"


@pytest.mark.parametrize("reason", ["", "   ", "不行", None])
def test_rejection_without_a_clear_reason_cannot_be_built(reason: object) -> None:
    payload = {} if reason is None else {"reason": reason}
    with pytest.raises(InvalidInput) as err:
        draft(EventType.REJECTED, OP_A, payload)
    assert err.value.field == "payload.reason"


def test_joint_case_is_decided_when_the_last_department_answers() -> None:
    log = accepted("joint")
    log.add(CITY, EventType.COPIES_SENT, OP_A, {"departments": ["SJ", "SW", "GA"]})
    assert log.state.co_approvals == {"SJ": None, "SW": None, "GA": None}
    log.add(CITY, EventType.CO_APPROVED, OP_A, {"department": "SJ"})
    log.add(CITY, EventType.CO_APPROVED, OP_B, {"department": "SW"})
    assert log.state.state is Status.JOINT_APPROVAL
    assert log.state.pending_departments == ("GA",)
    log.add(CITY, EventType.DEEMED_CONSENT, SYSTEM, {"department": "GA"})
    state = log.state
    assert (state.state, state.outcome) == (Status.DECIDED, Outcome.APPROVED)
    assert state.co_approvals["GA"] is JointAnswer.DEEMED_CONSENT


def test_a_department_answers_once_and_only_its_own_copy() -> None:
    log = accepted("joint")
    log.add(CITY, EventType.COPIES_SENT, OP_A, {"departments": ["SJ", "SW"]})
    log.add(CITY, EventType.CO_APPROVED, OP_A, {"department": "SJ"})
    state = log.state
    with pytest.raises(StateConflict, match="already answered"):
        apply(state, draft(EventType.OBJECTED, OP_A, {"department": "SJ",
                                                      "reason": "经营场所不符合规定"}))
    with pytest.raises(NotPermitted) as err:
        apply(state, draft(EventType.CO_APPROVED, OP_A, {"department": "ZR"}))
    assert err.value.field == "department"


def test_copies_only_for_joint_cases() -> None:
    with pytest.raises(StateConflict):
        apply(accepted().state, draft(EventType.COPIES_SENT, OP_A, {"departments": ["A", "B"]}))


def test_withdrawal_closes_and_nothing_follows() -> None:
    log = accepted()
    log.add(VILLAGE, EventType.WITHDRAWN, AGENT, {"reason": "申请人不再需要"})
    state = log.state
    assert (state.state, state.outcome, state.stage) == (
        Status.WITHDRAWN, Outcome.WITHDRAWN, "withdrawn")
    # but a refusal, the erasure at the end of retention, giving back fees paid, and a
    # question or complaint about it and its answer
    for event_type in EventType:
        if event_type not in (EventType.REFUSED, EventType.ERASED, EventType.RECEIPT_VOIDED,
                              EventType.FEE_REFUNDED, EventType.CONSULTATION_RECORDED,
                              EventType.CONSULTATION_ANSWERED):
            assert event_type not in TRANSITIONS[Status.WITHDRAWN]


def test_correction_only_before_acceptance() -> None:
    log = at_window()
    log.add(VILLAGE, EventType.REGISTRATION_CORRECTED, AGENT,
            {"changes": {"applicant.phone": "13800138000"}, "reason": "登记时电话号码录入错误"})
    assert log.state.corrections == 1
    with pytest.raises(StateConflict):
        apply(accepted().state, draft(EventType.REGISTRATION_CORRECTED, AGENT,
                                      {"changes": {"x": 1}, "reason": "登记时录入错误"}))


def test_result_hand_over_and_one_rating() -> None:
    log = accepted("immediate")
    log.add(CITY, EventType.REVIEWED, OP_A)
    log.add(CITY, EventType.CLAIMED, OP_B)
    log.add(CITY, EventType.CHECKED, OP_B)
    with pytest.raises(StateConflict):
        apply(log.state, draft(EventType.RESULT_HANDED_OVER, AGENT, {"method": "in_person"}))
    log.add(CITY, EventType.RESULT_ISSUED, OP_B, {"document": "sha256:ab"})
    log.add(VILLAGE, EventType.RESULT_HANDED_OVER, AGENT, {"method": "in_person"})
    log.add(VILLAGE, EventType.RATED, AGENT, {"rating": "very_satisfied", "comment": "很快"})
    state = log.state
    assert state.handed_over and state.stage == "handed_over"
    assert state.rating == "very_satisfied"
    with pytest.raises(StateConflict, match="already been rated"):
        apply(state, draft(EventType.RATED, AGENT, {"rating": "satisfied"}))


def test_illegal_event_raises_and_leaves_the_state_unchanged() -> None:
    state = accepted().state
    before = (state.state, state.claimed_by, state.events)
    with pytest.raises(StateConflict):
        apply(state, draft(EventType.RESULT_ISSUED, OP_A))
    assert (state.state, state.claimed_by, state.events) == before


def test_refused_event_is_kept_but_skipped_by_the_fold() -> None:
    log = accepted()
    log.add(CITY, EventType.REJECTED, OP_A, {"reason": "申请人不符合低保条件"})
    late = log.add(VILLAGE, EventType.SUPPLEMENT_PROVIDED, AGENT)
    with pytest.raises(StateConflict):
        fold(log.events)
    log.add(CITY, EventType.REFUSED, SYSTEM, {
        "refused": {"origin": late.origin, "epoch": late.epoch, "seq": late.seq},
        "event_type": "supplement_provided",
        "reason": "the case was already decided",
    })
    state = log.state
    assert state.state is Status.DECIDED
    assert state.refusals == (late.key,)
    assert state.events == len(log.events)


def test_fold_is_incremental() -> None:
    log = accepted()
    log.add(CITY, EventType.REVIEWED, OP_A)
    for cut in range(len(log.events) + 1):
        assert fold_more(fold(log.events[:cut]), log.events[cut:]) == fold(log.events)


def test_events_of_another_case_are_refused() -> None:
    other = registered(Log("9f1c8a50-3c5e-4a4e-9f7e-3f4c2b1a0d11"))
    with pytest.raises(InvalidInput) as err:
        apply(at_window().state, other.events[0])
    assert err.value.field == "case_id"


def test_event_records_check_themselves() -> None:
    with pytest.raises(InvalidInput, match="timezone"):
        CaseEvent(CASE_ID, CITY, 1, 1, EventType.CLAIMED, OP_A, datetime(2025, 1, 1))
    with pytest.raises(InvalidInput) as err:
        CaseEvent("not-a-uuid", CITY, 1, 1, EventType.CLAIMED, OP_A, T0)
    assert err.value.field == "case_id"
    with pytest.raises(InvalidInput) as err:
        CaseEvent(CASE_ID, "43", 1, 1, EventType.CLAIMED, OP_A, T0)
    assert err.value.field == "origin"
    with pytest.raises(InvalidInput) as err:
        draft(EventType.SUPPLEMENT_REQUESTED, OP_A, {"missing": [], "reason": "材料不全请补正"})
    assert err.value.field == "payload.missing"
    with pytest.raises(InvalidInput):
        EventActor("op wang", Role.WINDOW_OPERATOR)


def test_event_round_trips_through_a_dict_and_the_wire_actor() -> None:
    event = at_window().events[-1]
    assert CaseEvent.from_dict(event.to_dict()) == event
    assert EventActor.from_wire(OP_A.to_wire()) == OP_A
    with pytest.raises(InvalidInput):
        CaseEvent.from_dict({**event.to_dict(), "type": "teleported"})


def test_doc_holds_the_current_transition_table() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "case-lifecycle.md"
    assert transition_table_markdown() in doc.read_text(encoding="utf-8")
