"""``sanji demo --scenario``: one case of each of the six kinds, from a village to its decision
and back, driven through the public HTTP API only, with a timeline of every case's events.

The same driver backs the six-kinds integration test: :class:`Scenario` takes the city's
URLs, the operators' logins and a ``settle`` callable that moves the queues (the demo waits
for the nodes' sync jobs; the test calls ``sanji node sync-now``).

The six kinds (六件): an immediate item (即办件), a promised item (承办件), a joint item
(联办件, three departments approving in parallel), a report-up item (上报件, decided by the
province and recorded at the city window), a case sent back for a supplement (补办件, the
village scans what was missing) and a case returned with a written reason (退回件).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

TIMEOUT = 15
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
APPLICANT = {"name": "王小明", "id_number": "431002198001010017", "phone": "13800138000"}
USCC = "91110000710925462X"


class ScenarioError(AssertionError):
    """A step did not answer as the workflow promises."""


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Step:
    """One window action: who (window code, 0 or 1 for the reviewer or the checker) does
    what, with which fields."""

    window: str
    who: int
    action: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Story:
    kind: str
    title: str
    item: str
    form: Mapping[str, Any]
    window: str
    before: Sequence[Step]
    supplement: Sequence[str] = ()
    after: Sequence[Step] = ()
    outcome: str = "approved"


def _review(window: str) -> list[Step]:
    return [Step(window, 0, "claim"), Step(window, 0, "accept"), Step(window, 0, "approve"),
            Step(window, 1, "claim"), Step(window, 1, "check")]


STORIES: tuple[Story, ...] = (
    Story("immediate", "即办件 公章刻制备案", "GA-5601",
          {"enterprise_name": "郴州市良田米业有限公司", "uscc": USCC, "seal_count": 2},
          "W-GA-01", [*_review("W-GA-01"), Step("W-GA-01", 1, "issue_result")]),
    Story("promised", "承办件 社会团体成立登记", "MZ-0520",
          {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 60,
           "business_scope": "摄影交流与培训"},
          "W-MZ-01", [*_review("W-MZ-01"), Step("W-MZ-01", 1, "issue_result")]),
    Story("joint", "联办件 企业开办一件事", "SJ-0101",
          {"company_name": "郴州市吉村农产品有限公司", "company_type": "llc",
           "registered_capital": 500000, "legal_rep_id": "431002197503150023",
           "legal_rep_phone": "13900139000", "seal_count": 3, "needs_invoice": True},
          "W-SJ-01",
          [Step("W-SJ-01", 0, "claim"), Step("W-SJ-01", 0, "accept"),
           Step("W-SJ-01", 0, "co_approve", {"department": "SJ"}),
           Step("W-SW-01", 0, "co_approve", {"department": "SW"}),
           Step("W-GA-01", 0, "co_approve", {"department": "GA"}),
           Step("W-SJ-01", 1, "claim"), Step("W-SJ-01", 1, "issue_result")]),
    Story("report_up", "上报件 建设项目用地预审", "ZR-1102",
          {"project_name": "良田镇污水处理厂", "uscc": USCC, "land_area_hectare": 2.5,
           "location": "良田镇吉村"},
          "W-ZR-01",
          [Step("W-ZR-01", 0, "claim"), Step("W-ZR-01", 0, "accept"),
           Step("W-ZR-01", 0, "approve"), Step("W-ZR-01", 1, "claim"),
           Step("W-ZR-01", 1, "report_up", {"authority": "湖南省自然资源厅"}),
           Step("W-ZR-01", 1, "claim"),
           Step("W-ZR-01", 1, "record_external_decision",
                {"outcome": "approved", "authority": "湖南省自然资源厅",
                 "reference": "湘自然资预〔2026〕118号"}),
           Step("W-ZR-01", 1, "issue_result")]),
    Story("supplement", "补办件 社会团体成立登记 (材料不全)", "MZ-0520",
          {"org_name": "郴州市书法家协会", "registered_funds": 30000, "member_count": 52,
           "business_scope": "书法交流与展览"},
          "W-MZ-01",
          [Step("W-MZ-01", 0, "claim"),
           Step("W-MZ-01", 0, "request_supplement",
                {"missing": ["FUNDS_PROOF", "PREMISES_PROOF"],
                 "reason": "请补交验资证明和住所使用证明"})],
          supplement=("FUNDS_PROOF", "PREMISES_PROOF"),
          after=[Step("W-MZ-01", 0, "claim"), Step("W-MZ-01", 0, "accept"),
                 Step("W-MZ-01", 0, "approve"), Step("W-MZ-01", 1, "claim"),
                 Step("W-MZ-01", 1, "check"), Step("W-MZ-01", 1, "issue_result")]),
    Story("returned", "退回件 社会团体成立登记 (不符合条件)", "MZ-0520",
          {"org_name": "郴州市摄影家协会", "registered_funds": 30000, "member_count": 55,
           "business_scope": "摄影交流"},
          "W-MZ-01",
          [Step("W-MZ-01", 0, "claim"),
           Step("W-MZ-01", 0, "reject",
                {"reason": "拟定名称与已登记的社会团体重名，请更换名称后重新申请"}),
           Step("W-MZ-01", 0, "issue_result")],
          outcome="rejected"),
)


@dataclass(frozen=True, slots=True)
class Office:
    """A township or county centre that decides cases with its own windows."""

    code: str
    url: str
    operators: Mapping[str, tuple[Login, Login]]


def anywhere_story(area: str) -> Story:
    """全城通办: temporary assistance for a villager whose household is registered in the
    township ``area``, applied for at a station of another township."""
    return Story("anywhere", f"全城通办 临时救助 (户籍地 {area})", "MZ-0305",
                 {"hardship_type": "emergency", "hardship_date": "2025-02-20",
                  "amount_requested": "3000.00",
                  "description": "家中房屋因暴雨受损,急需修缮资金。",
                  "bank_account": "6217001234567890123", "residence_area": area},
                 "W-MZ-11", [*_review("W-MZ-11"), Step("W-MZ-11", 1, "issue_result")])


@dataclass
class Scenario:
    """Drives :data:`STORIES` against a running city."""

    hub_url: str
    village_url: str
    operators: Mapping[str, tuple[Login, Login]]
    settle: Callable[[], None]
    agent: Login
    say: Callable[[str], None] = print
    _tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def token(self, login: Login, url: str | None = None) -> dict[str, str]:
        """A Bearer header for ``login`` from the hub (or from the site at ``url``)."""
        if login.username not in self._tokens:
            response = requests.post(f"{url or self.hub_url}/api/v1/auth/token",
                                     timeout=TIMEOUT,
                                     json={"username": login.username,
                                           "password": login.password})
            _expect(response, 200, f"login {login.username}")
            self._tokens[login.username] = {
                "Authorization": f"Bearer {response.json()['access_token']}"}
        return self._tokens[login.username]

    def register(self, story: Story) -> dict[str, Any]:
        response = requests.post(
            f"{self.village_url}/api/v1/cases", timeout=TIMEOUT,
            json={"item_code": story.item, "applicant": APPLICANT, "form": dict(story.form),
                  "delivery": "village"},
            headers={"Idempotency-Key": f"scenario-{story.kind}-{uuid.uuid4().hex[:8]}",
                     **self.token(self.agent, self.village_url)})
        _expect(response, 201, f"register {story.item}")
        created: dict[str, Any] = response.json()
        return created

    def act(self, case_id: str, step: Step, at: Office | None = None) -> dict[str, Any]:
        """One window action at the hub (or at the office ``at``, with its operators)."""
        operators, url = (at.operators, at.url) if at is not None else (self.operators, None)
        login = operators[step.window][step.who]
        response = requests.post(f"{url or self.hub_url}/api/v1/cases/{case_id}/actions",
                                 json={"action": step.action, **step.fields},
                                 headers=self.token(login, url), timeout=TIMEOUT)
        _expect(response, 200, f"{step.action} by {login.username}")
        body: dict[str, Any] = response.json()
        return body

    def scan(self, case_id: str, code: str) -> None:
        response = requests.post(f"{self.village_url}/api/v1/cases/{case_id}/materials",
                                 data={"material_code": code},
                                 files={"file": (f"{code}.png", io.BytesIO(PNG), "image/png")},
                                 headers=self.token(self.agent, self.village_url),
                                 timeout=TIMEOUT)
        _expect(response, 201, f"scan {code}", also=(200,))

    def village_case(self, case_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.village_url}/api/v1/cases/{case_id}", timeout=TIMEOUT,
                                headers=self.token(self.agent, self.village_url))
        _expect(response, 200, "village case")
        body: dict[str, Any] = response.json()
        return body

    def run(self) -> dict[str, dict[str, Any]]:
        """Every story to its end; returns each kind's case as the village finally sees it."""
        cases = {s.kind: self.register(s)["case_id"] for s in STORIES}
        self.say(f"registered {len(cases)} cases at the village; syncing up ...")
        self.settle()
        for story in STORIES:
            for step in story.before:
                self.act(cases[story.kind], step)
        self.say("the windows have worked every case; syncing down ...")
        self.settle()
        waiting = [s for s in STORIES if s.supplement]
        for story in waiting:
            for code in story.supplement:
                self.scan(cases[story.kind], code)
        if waiting:
            self.say("the village scanned the missing materials; syncing up ...")
            self.settle()
            for story in waiting:
                for step in story.after:
                    self.act(cases[story.kind], step)
            self.settle()
        return {kind: self.village_case(case_id) for kind, case_id in cases.items()}

    def run_anywhere(self, office: Office) -> dict[str, Any]:
        """A case the village registers for an applicant of ``office``'s township: the
        case goes where the branches meet, down to the office, which decides it, and the
        result comes back to the village. Returns the case as the village sees it."""
        story = anywhere_story(office.code)
        case_id = self.register(story)["case_id"]
        self.say(f"registered a case for an applicant of {office.code}; syncing ...")
        self.settle()
        for step in story.before:
            self.act(case_id, step, at=office)
        self.say(f"{office.code} has decided it; syncing back to the village ...")
        self.settle()
        return self.village_case(case_id)


def timeline(case: Mapping[str, Any], tiers: Mapping[str, str]) -> list[str]:
    """One line per event: time (Asia/Shanghai), tier, site, event type, actor."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    lines = []
    for event in case.get("events", []):
        at = datetime.fromisoformat(event["at"]).astimezone(zone).strftime("%H:%M:%S")
        tier = tiers.get(event["origin"], "?")
        lines.append(f"  {at}  {tier:<9}{event['origin']:<14}{event['type']:<28}"
                     f"{event.get('actor', '')}")
    return lines


def agent_of(users: Sequence[Mapping[str, Any]], site: str) -> Login:
    """The agent of ``site`` from ``demo.json``'s users."""
    for user in users:
        if user.get("role") == "agent" and user.get("site") == site:
            return Login(str(user["username"]), str(user["password"]))
    raise ScenarioError(f"no agent at {site}")


def operators_from(users: Sequence[Mapping[str, Any]], site: str) -> dict[str, tuple[Login,
                                                                                       Login]]:
    """The two operators of each window at ``site``, from ``demo.json``'s users."""
    by_window: dict[str, list[Login]] = {}
    for user in users:
        if user.get("role") == "window_operator" and user.get("site") == site:
            by_window.setdefault(str(user["window"]), []).append(
                Login(str(user["username"]), str(user["password"])))
    return {w: (logins[0], logins[1]) for w, logins in by_window.items() if len(logins) >= 2}


def _expect(response: requests.Response, status: int, what: str,
            also: Sequence[int] = ()) -> None:
    if response.status_code != status and response.status_code not in also:
        raise ScenarioError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
