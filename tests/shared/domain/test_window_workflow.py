"""The window workflow end to end: each kind of case, each authority level, and every refusal
a window operator, agent, supervisor or timer can run into."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.domain.case_events import Actor, CaseEvent, EventType, Kind, Role
from shared.domain.case_state import CaseState, JointAnswer, Outcome, Status, fold
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.errors import InvalidInput, NotPermitted, Problems, StateConflict
from shared.domain.window_workflow import (
    ActionRequest,
    AuthorityLevel,
    ItemRules,
    admit,
    allowed_actions,
    perform,
    rules_from_item,
)
from tests.shared.domain.test_case_state import CASE_ID, T0

CITY = "431000"
COUNTY = "431002"
TOWNSHIP = "431002001"
VILLAGE = "431002001201"
OTHER_VILLAGE = "431002001202"

AGENT = Actor("agent.li", Role.AGENT, VILLAGE, "village")
FAR_AGENT = Actor("agent.he", Role.AGENT, OTHER_VILLAGE, "village")
HUB = Actor("hub", Role.SYSTEM, CITY, "city")
SUPERVISOR = Actor("sup.chen", Role.SUPERVISOR, CITY, "city")


def operator(name: str, window: str, department: str, site: str = CITY, tier: str = "city"
             ) -> Actor:
    return Actor(name, Role.WINDOW_OPERATOR, site, tier, window=window, department=department)


IMMEDIATE = ItemRules("GA-1201", Kind.IMMEDIATE, "city", "W-GA-01", "city",
                      AuthorityLevel.DECISION)
PROMISED = ItemRules("MZ-0410", Kind.PROMISED, "city", "W-MZ-01", "city",
                     AuthorityLevel.DECISION, promised_days=10, overdue_means_approval=True,
                     window_department="MZ")
JOINT = ItemRules("SJ-0101", Kind.JOINT, "city", "W-SJ-01", "city", AuthorityLevel.DECISION,
                  promised_days=3, co_approvers=("SJ", "SW", "GA"), absence_means_consent=True)
REPORT_UP = ItemRules("ZR-1102", Kind.REPORT_UP, "external", "W-ZR-01", "city",
                      AuthorityLevel.REVIEW_REPORT, promised_days=10,
                      external_authority="湖南省自然资源厅")
PRELIMINARY = ItemRules("SJ-1303", Kind.PROMISED, "county", "W-SJ-02", "county",
                        AuthorityLevel.PRELIMINARY, promised_days=10, window_department="SJ")
AT_TOWNSHIP = ItemRules("MZ-0101", Kind.PROMISED, "township", "W-MZ-11", "township",
                        AuthorityLevel.DECISION, promised_days=5)


class Desk:
    """One case, its log in the owner's order, driven only through :func:`perform`."""

    def __init__(self, rules: ItemRules, origin: Actor = AGENT) -> None:
        self.rules = rules
        self.events: list[CaseEvent] = []
        self.seqs: dict[str, int] = {}
        self.now = T0
        self._append(origin.site, [
            ("registered", origin, {"item_code": rules.item_code, "kind": rules.kind.value,
                                    "window": rules.window}),
        ])

    def _append(self, site: str, drafts: list[tuple[str, Actor, dict[str, Any]]]) -> None:
        for event_type, actor, payload in drafts:
            self.seqs[site] = self.seqs.get(site, 0) + 1
            self.events.append(CaseEvent(CASE_ID, site, 1, self.seqs[site],
                                         EventType(event_type), actor.as_event_actor,
                                         self.now, payload))

    @property
    def state(self) -> CaseState:
        return fold(self.events)

    def do(self, actor: Actor, action: str, rules: ItemRules | None = None,
           **fields: Any) -> CaseState:
        self.now += timedelta(hours=1)
        result = perform(self.state, rules or self.rules, actor,
                         ActionRequest(action, **fields), self.now)
        for draft in result.events:
            self.seqs[actor.site] = self.seqs.get(actor.site, 0) + 1
            self.events.append(draft.stamp(CASE_ID, actor.site, 1, self.seqs[actor.site]))
        assert fold(self.events) == result.state  # the owner's log says what perform said
        return result.state

    def at_window(self, site: str = CITY, tier: str = "city") -> CaseState:
        receiver = Actor("site", Role.SYSTEM, site, tier)
        self.do(receiver, "receipt")
        return self.do(receiver, "route")


def ops(rules: ItemRules, site: str = CITY, tier: str = "city") -> tuple[Actor, Actor]:
    dept = rules.window.split("-")[1]
    return (operator("op.wang", rules.window, dept, site, tier),
            operator("op.zhao", rules.window, dept, site, tier))


def decide(desk: Desk, first: Actor, second: Actor) -> CaseState:
    desk.do(first, "claim")
    desk.do(first, "accept")
    desk.do(first, "approve")
    desk.do(second, "claim")
    return desk.do(second, "check")


# -- the six kinds ------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", [IMMEDIATE, PROMISED], ids=["immediate", "promised"])
def test_decision_level_case_from_village_to_rating(rules: ItemRules) -> None:
    desk = Desk(rules)
    assert desk.state.stage == "queued_at_origin"
    assert desk.at_window().stage == "at_window"
    a, b = ops(rules)
    state = decide(desk, a, b)
    assert (state.state, state.outcome, state.kind) == (Status.DECIDED, Outcome.APPROVED,
                                                          rules.kind)
    assert (state.reviewer, state.checker) == ("op.wang", "op.zhao")
    desk.do(b, "issue_result", document="sha256:0f", reference="郴民许〔2025〕17号")
    desk.do(AGENT, "hand_over", method="in_person", receiver_name="张三")
    state = desk.do(AGENT, "rate", rating="very_satisfied", comment="一次办好")
    assert state.stage == "handed_over" and state.rating == "very_satisfied"
    assert [k for k, _ in state.kind_history] == [rules.kind]


def test_township_decides_its_own_items() -> None:
    desk = Desk(AT_TOWNSHIP)
    desk.do(Actor("node", Role.SYSTEM, TOWNSHIP, "township"), "receipt")
    assert desk.state.stage == "at_township"
    desk.do(Actor("node", Role.SYSTEM, TOWNSHIP, "township"), "route")
    a, b = ops(AT_TOWNSHIP, TOWNSHIP, "township")
    assert decide(desk, a, b).outcome is Outcome.APPROVED
    city_a, _ = ops(AT_TOWNSHIP)
    with pytest.raises(NotPermitted) as err:
        Desk(AT_TOWNSHIP).do(city_a, "claim")
    assert err.value.field in ("site", "tier")


def test_joint_case_three_departments_with_deemed_consent() -> None:
    desk = Desk(JOINT)
    desk.at_window()
    lead, _ = ops(JOINT)
    desk.do(lead, "claim")
    due = desk.now + timedelta(days=5)
    state = desk.do(lead, "accept", deadline=due)
    assert state.state is Status.JOINT_APPROVAL
    assert [e.type for e in desk.events[-2:]] == [EventType.ACCEPTED, EventType.COPIES_SENT]
    assert desk.events[-1].payload["departments"] == ["SJ", "SW", "GA"]
    assert desk.events[-1].payload["deadline"] == due.isoformat()
    assert state.co_approvals == {"SJ": None, "SW": None, "GA": None}
    desk.do(operator("sj.1", "W-SJ-01", "SJ"), "co_approve")
    desk.do(operator("sw.1", "W-SW-01", "SW"), "co_approve")
    with pytest.raises(StateConflict) as err:
        desk.do(HUB, "deemed_consent", due_at=due)  # not yet due
    assert err.value.field == "due_at"
    desk.now = due
    state = desk.do(HUB, "deemed_consent", due_at=due)
    assert (state.state, state.outcome, state.kind) == (Status.DECIDED, Outcome.APPROVED,
                                                          Kind.JOINT)
    assert state.co_approvals["GA"] is JointAnswer.DEEMED_CONSENT


def test_joint_case_with_an_objection_is_returned_with_the_reasons() -> None:
    desk = Desk(JOINT)
    desk.at_window()
    lead, _ = ops(JOINT)
    desk.do(lead, "claim")
    desk.do(lead, "accept")
    with pytest.raises(NotPermitted) as err:
        desk.do(operator("zr.1", "W-ZR-01", "ZR"), "co_approve")
    assert err.value.field == "department"
    desk.do(operator("sw.1", "W-SW-01", "SW"), "object", reason="纳税人识别信息与登记信息不一致")
    with pytest.raises(InvalidInput) as err_reason:
        desk.do(operator("ga.1", "W-GA-01", "GA"), "object", reason="不行")
    assert err_reason.value.field == "reason"
    assert desk.state.state is Status.JOINT_APPROVAL  # decided only when all have answered
    desk.do(operator("ga.1", "W-GA-01", "GA"), "co_approve")
    state = desk.do(operator("sj.1", "W-SJ-01", "SJ"), "co_approve")
    assert (state.outcome, state.kind) == (Outcome.REJECTED, Kind.RETURNED)
    assert state.reason == "SW: 纳税人识别信息与登记信息不一致"
    assert [k for k, _ in state.kind_history] == [Kind.JOINT, Kind.RETURNED]


def test_deemed_consent_only_where_the_item_allows_it() -> None:
    rules = dataclasses.replace(JOINT, absence_means_consent=False)
    desk = Desk(rules)
    desk.at_window()
    lead, _ = ops(rules)
    desk.do(lead, "claim")
    desk.do(lead, "accept")
    with pytest.raises(NotPermitted) as err:
        desk.do(HUB, "deemed_consent", due_at=T0)
    assert err.value.field == "absence_means_consent"


@pytest.mark.parametrize(("decision", "outcome", "kind"), [
    ("approved", Outcome.APPROVED, Kind.REPORT_UP),
    ("rejected", Outcome.REJECTED, Kind.RETURNED),
])
def test_report_up_case_waits_for_the_external_decision(
    decision: str, outcome: Outcome, kind: Kind
) -> None:
    desk = Desk(REPORT_UP)
    desk.at_window()
    a, b = ops(REPORT_UP)
    desk.do(a, "claim")
    desk.do(a, "accept")
    desk.do(a, "approve")
    desk.do(b, "claim")
    with pytest.raises(NotPermitted) as err:
        desk.do(b, "check")
    assert err.value.field == "authority"
    state = desk.do(b, "report_up")
    assert state.stage == "with_higher_authority"
    assert state.reported_to == "湖南省自然资源厅"
    desk.do(b, "claim")
    state = desk.do(b, "record_external_decision", outcome=decision,
                    reference="湘自然资预审〔2025〕8号", reason="项目用地不符合国土空间规划")
    assert (state.state, state.outcome, state.kind) == (Status.DECIDED, outcome, kind)


def test_external_rejection_needs_its_reason() -> None:
    desk = Desk(REPORT_UP)
    desk.at_window()
    a, _ = ops(REPORT_UP)
    for action in ("claim", "accept", "approve", "claim", "report_up", "claim"):
        desk.do(a, action)
    with pytest.raises(InvalidInput) as err:
        desk.do(a, "record_external_decision", outcome="rejected")
    assert err.value.field == "reason"


def test_rejection_needs_a_clear_written_reason_and_returns_the_case() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, _ = ops(PROMISED)
    desk.do(a, "claim")
    for reason in ("", "  ", "不符合"):
        with pytest.raises(InvalidInput) as err:
            desk.do(a, "reject", reason=reason)
        assert err.value.field == "reason"
    assert desk.state.outcome is None
    state = desk.do(a, "reject", reason="申请事项不属于本窗口受理范围且申请人不具备资格")
    assert (state.outcome, state.kind, state.stage) == (Outcome.REJECTED, Kind.RETURNED,
                                                         "decided")
    assert state.reason == "申请事项不属于本窗口受理范围且申请人不具备资格"


def test_supplement_lists_everything_missing_once_and_pauses_the_clock() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, _ = ops(PROMISED)
    desk.do(a, "claim")
    desk.do(a, "accept")
    with pytest.raises(InvalidInput) as err:
        desk.do(a, "request_supplement", missing=(), reason="材料不齐全，请补正")
    assert err.value.field == "missing"
    state = desk.do(a, "request_supplement", missing=("HOUSEHOLD", "INCOME_PROOF", "BANK_CARD"),
                    reason="缺少户口簿、收入证明和银行卡复印件")
    assert state.missing == ("HOUSEHOLD", "INCOME_PROOF", "BANK_CARD")
    assert (state.kind, state.stage, state.is_paused) == (Kind.SUPPLEMENT,
                                                          "awaiting_supplement", True)
    with pytest.raises(InvalidInput, match="INCOME_PROOF, BANK_CARD") as err:
        desk.do(AGENT, "supplement_provided", provided=("HOUSEHOLD",))
    assert err.value.field == "provided"
    state = desk.do(AGENT, "supplement_provided",
                    provided=("HOUSEHOLD", "INCOME_PROOF", "BANK_CARD"))
    assert (state.state, state.kind, state.missing) == (Status.ACCEPTED, Kind.PROMISED, ())
    assert len(state.pauses) == 1 and state.pauses[0][1] is not None
    desk.do(a, "claim")
    with pytest.raises(StateConflict, match="一次性告知"):
        desk.do(a, "request_supplement", missing=("PHOTO",), reason="还缺少近期免冠照片")


# -- authority levels --------------------------------------------------------------------------


def test_preliminary_window_reviews_and_hands_on() -> None:
    desk = Desk(PRELIMINARY)
    desk.at_window(COUNTY, "county")
    a, b = ops(PRELIMINARY, COUNTY, "county")
    desk.do(a, "claim")
    desk.do(a, "accept")
    desk.do(a, "approve")
    desk.do(b, "claim")
    with pytest.raises(NotPermitted) as err:
        desk.do(b, "check")
    assert err.value.field == "authority"
    with pytest.raises(NotPermitted):
        desk.do(b, "reject", reason="现场核查不符合食品经营条件")
    state = desk.do(b, "transfer", to_window="W-SJ-03", reason="初审完成，转审批科作出决定")
    assert (state.state, state.window, state.claimed_by) == (Status.ROUTED, "W-SJ-03", None)
    assert state.handed_on_from == "W-SJ-02"
    # the window it was handed to decides, with its own reviewer and checker (一审一核)
    c, d = ops(dataclasses.replace(PRELIMINARY, window="W-SJ-03"), COUNTY, "county")
    decided = decide(desk, c, d)
    assert (decided.outcome, decided.reviewer, decided.checker) == (
        Outcome.APPROVED, c.username, d.username)


def test_a_window_given_a_preliminary_case_before_its_review_may_not_decide_it() -> None:
    desk = Desk(PRELIMINARY)
    desk.at_window(COUNTY, "county")
    a, _ = ops(PRELIMINARY, COUNTY, "county")
    desk.do(a, "claim")
    state = desk.do(a, "transfer", to_window="W-SJ-03", reason="未经初审，转其他窗口")
    assert state.handed_on_from is None
    c, _ = ops(dataclasses.replace(PRELIMINARY, window="W-SJ-03"), COUNTY, "county")
    desk.do(c, "claim")
    with pytest.raises(NotPermitted, match="transfer the case to W-SJ-02"):
        desk.do(c, "accept")


def test_preliminary_window_may_report_to_a_named_authority() -> None:
    desk = Desk(PRELIMINARY)
    desk.at_window(COUNTY, "county")
    a, _ = ops(PRELIMINARY, COUNTY, "county")
    for action in ("claim", "accept", "approve", "claim"):
        desk.do(a, action)
    with pytest.raises(InvalidInput) as err:
        desk.do(a, "report_up")
    assert err.value.field == "authority"
    state = desk.do(a, "report_up", authority="北湖区市场监督管理局审批科")
    assert state.reported_to == "北湖区市场监督管理局审批科"


@pytest.mark.parametrize(("rules", "action", "field"), [
    (PROMISED, "report_up", "authority"),  # a deciding window does not report up
    (PROMISED, "transfer", "authority"),  # after review only preliminary hands on
    (REPORT_UP, "check", "authority"),
    (PRELIMINARY, "check", "authority"),
])
def test_authority_levels_refuse_what_they_may_not_do(
    rules: ItemRules, action: str, field: str
) -> None:
    site, tier = (COUNTY, "county") if rules.window_tier == "county" else (CITY, "city")
    desk = Desk(rules)
    desk.at_window(site, tier)
    a, b = ops(rules, site, tier)
    for step in ("claim", "accept", "approve"):
        desk.do(a, step)
    desk.do(b, "claim")
    with pytest.raises(NotPermitted) as err:
        desk.do(b, action, to_window="W-X-01", reason="转交其他窗口办理本件")
    assert err.value.field == field


# -- 一审一核, claims, roles, windows ---------------------------------------------------------


def test_reviewer_may_not_check_their_own_review() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, _ = ops(PROMISED)
    for action in ("claim", "accept", "approve", "claim"):
        desk.do(a, action)
    with pytest.raises(NotPermitted, match="一审一核") as err:
        desk.do(a, "check")
    assert err.value.field == "checker"
    assert desk.state.state is Status.REVIEWED


def test_two_operators_never_work_one_case_at_once() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, b = ops(PROMISED)
    desk.do(a, "claim")
    for action in ("claim", "accept"):
        with pytest.raises(StateConflict) as err:
            desk.do(b, action)
        assert err.value.field == "claimed_by"
    assert not {"claim", "accept"} & set(allowed_actions(desk.state, PROMISED, b, desk.now))
    desk.do(a, "release_claim")
    assert desk.do(b, "claim").claimed_by == "op.zhao"


def test_supervisor_reassigns_when_staff_are_absent() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, b = ops(PROMISED)
    desk.do(a, "claim")
    assert desk.do(SUPERVISOR, "reassign", assignee="op.zhao").claimed_by == "op.zhao"
    assert desk.do(b, "accept").state is Status.ACCEPTED
    with pytest.raises(NotPermitted) as err:
        desk.do(a, "reassign", assignee="op.wang")
    assert err.value.field == "role"


@pytest.mark.parametrize(("actor", "field"), [
    (AGENT, "role"),
    (operator("op.sun", "W-GA-01", "GA"), "window"),
    (operator("op.wang", "W-MZ-01", "MZ", COUNTY, "county"), "site"),
    (SUPERVISOR, "role"),
])
def test_who_may_not_accept(actor: Actor, field: str) -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    with pytest.raises(NotPermitted) as err:
        desk.do(actor, "claim")
    assert err.value.field == field


def test_misrouted_case_is_transferred_to_the_authorised_window() -> None:
    desk = Desk(PROMISED)
    desk.do(HUB, "receipt")
    wrong = dataclasses.replace(IMMEDIATE, window="W-GA-01")
    desk.do(HUB, "route", rules=wrong)  # routed to the public security window by mistake
    ga = operator("op.sun", "W-GA-01", "GA")
    desk.do(ga, "claim")
    with pytest.raises(NotPermitted, match="transfer the case to W-MZ-01"):
        desk.do(ga, "accept")
    state = desk.do(ga, "transfer", reason="事项属民政部门，转民政窗口办理")
    assert (state.window, state.site, state.state) == ("W-MZ-01", CITY, Status.ROUTED)
    a, b = ops(PROMISED)
    assert decide(desk, a, b).outcome is Outcome.APPROVED


# -- withdrawal, correction, time rules, refusals ----------------------------------------------


def test_applicant_withdraws_through_the_agent() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    with pytest.raises(NotPermitted) as err:
        desk.do(FAR_AGENT, "withdraw")
    assert err.value.field == "site"
    state = desk.do(AGENT, "withdraw", reason="申请人已另行办理")
    assert (state.state, state.outcome, state.reason) == (Status.WITHDRAWN, Outcome.WITHDRAWN,
                                                          "申请人已另行办理")
    a, _ = ops(PROMISED)
    with pytest.raises(StateConflict):
        desk.do(a, "claim")


def test_registration_is_corrected_by_an_event_before_acceptance_only() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    state = desk.do(AGENT, "correct_registration", changes={"applicant.phone": "13800138000"},
                    reason="登记时手机号码录入错误")
    assert state.corrections == 1
    assert desk.events[-1].type is EventType.REGISTRATION_CORRECTED
    assert desk.events[0].payload["item_code"] == "MZ-0410"  # the registration is untouched
    with pytest.raises(InvalidInput) as err:
        desk.do(AGENT, "correct_registration", changes={}, reason="登记时录入错误")
    assert err.value.field == "changes"
    a, _ = ops(PROMISED)
    desk.do(a, "claim")
    desk.do(a, "accept")
    with pytest.raises(StateConflict):
        desk.do(AGENT, "correct_registration", changes={"form.area": 3},
                reason="登记时面积录入错误")


def test_overdue_means_approval_where_the_item_says_so() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, _ = ops(PROMISED)
    desk.do(a, "claim")
    desk.do(a, "accept")
    due = desk.now + timedelta(days=14)
    with pytest.raises(StateConflict):
        desk.do(HUB, "deemed_approval", due_at=due)
    desk.now = due
    state = desk.do(HUB, "deemed_approval", due_at=due)
    assert (state.outcome, state.deemed) == (Outcome.APPROVED, True)
    strict = Desk(IMMEDIATE)
    strict.at_window()
    b, _ = ops(IMMEDIATE)
    strict.do(b, "claim")
    strict.do(b, "accept")
    with pytest.raises(NotPermitted) as err:
        strict.do(HUB, "deemed_approval", due_at=T0)
    assert err.value.field == "overdue_means_approval"


def test_late_event_is_kept_and_answered_with_a_refusal() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, _ = ops(PROMISED)
    desk.do(a, "claim")
    desk.do(a, "accept")
    desk.do(a, "request_supplement", missing=("INCOME_PROOF",), reason="缺少家庭收入证明")
    state = desk.do(AGENT, "withdraw", reason="申请人撤回申请")
    late = CaseEvent(CASE_ID, VILLAGE, 1, 99, EventType.SUPPLEMENT_PROVIDED,
                     AGENT.as_event_actor, desk.now + timedelta(hours=1), {})
    admission = admit(state, late, HUB, desk.now + timedelta(hours=2))
    assert admission.refusal is not None
    assert admission.refusal.payload["refused"] == {"origin": VILLAGE, "epoch": 1, "seq": 99}
    log = [*desk.events, late, admission.refusal.stamp(CASE_ID, CITY, 1, 50)]
    assert fold(log) == admission.state
    assert admission.state.state is Status.WITHDRAWN
    assert admission.state.refusals == (late.key,)


def test_admit_applies_a_legal_event() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    material = CaseEvent(CASE_ID, VILLAGE, 1, 2, EventType.MATERIAL_ADDED,
                         AGENT.as_event_actor, desk.now, {"code": "PHOTO"})
    admission = admit(desk.state, material, HUB, desk.now)
    assert admission.refusal is None and admission.state.events == desk.state.events + 1


# -- what the case page offers ----------------------------------------------------------------


def test_allowed_actions_follow_role_window_and_authority() -> None:
    desk = Desk(REPORT_UP)
    desk.at_window()
    a, b = ops(REPORT_UP)
    now = desk.now
    # A window operator may also record the applicant's withdrawal or a correction.
    assert allowed_actions(desk.state, REPORT_UP, a, now) == [
        "claim", "withdraw", "correct_registration"]
    assert allowed_actions(desk.state, REPORT_UP, AGENT, now) == [
        "withdraw", "correct_registration"]
    desk.do(a, "claim")
    assert set(allowed_actions(desk.state, REPORT_UP, a, now)) == {
        "release_claim", "accept", "request_supplement", "reject", "transfer", "withdraw",
        "correct_registration"}
    desk.do(a, "accept")
    desk.do(a, "approve")
    desk.do(b, "claim")
    assert set(allowed_actions(desk.state, REPORT_UP, b, now)) == {
        "release_claim", "report_up", "withdraw",
        # the clock still runs: a hearing or a notice may come before the report, and the
        # one extension may be asked
        "start_special_procedure", "request_extension"}
    assert allowed_actions(desk.state, REPORT_UP, a, now) == ["withdraw"]


def test_allowed_actions_of_a_decision_window_after_review() -> None:
    desk = Desk(PROMISED)
    desk.at_window()
    a, b = ops(PROMISED)
    for action in ("claim", "accept", "approve"):
        desk.do(a, action)
    desk.do(b, "claim")
    assert set(allowed_actions(desk.state, PROMISED, b, desk.now)) == {
        "release_claim", "check", "reject", "withdraw", "start_special_procedure",
        "request_extension"}
    assert "deemed_approval" in allowed_actions(desk.state, PROMISED, HUB, desk.now)


# -- item rules ------------------------------------------------------------------------------


def test_every_sample_catalogue_item_gives_consistent_rules() -> None:
    catalogue = load_sample_catalogue()
    rules = {
        item.code: rules_from_item(item, catalogue.window(item.window).site_tier)
        for item in catalogue.items
    }
    assert rules["SJ-0101"].co_approvers == ("SJ", "SW", "GA")
    assert rules["SJ-0101"].absence_means_consent
    assert rules["ZR-1102"].external_authority == "湖南省自然资源厅"
    assert {r.authority for r in rules.values()} == set(AuthorityLevel)
    assert {r.kind for r in rules.values()} == {Kind.IMMEDIATE, Kind.PROMISED, Kind.JOINT,
                                                Kind.REPORT_UP}


def test_inconsistent_rules_list_every_problem() -> None:
    with pytest.raises(Problems) as err:
        ItemRules("X-1", Kind.REPORT_UP, "city", "W-X", "city", AuthorityLevel.DECISION,
                  co_approvers=("A",), absence_means_consent=True)
    assert {"deciding_tier", "authority", "external_authority", "co_approvers",
            "absence_means_consent"} <= set(err.value.fields)


def test_unknown_action_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as err:
        ActionRequest("sign_off")
    assert err.value.field == "action"


def test_naive_now_is_refused() -> None:
    desk = Desk(PROMISED)
    with pytest.raises(InvalidInput) as err:
        perform(desk.state, PROMISED, HUB, ActionRequest("receipt"),
                datetime(2025, 9, 1, 9, 0))
    assert err.value.field == "now"
