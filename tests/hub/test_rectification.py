"""差评整改 at the city (PostgreSQL): a 不满意 rating at the window opens a rectification for
the item's department, due 15 working days on by the hub's calendar; only that department
answers it (another's operators do not even see the case), the call-back follows the
answer, and the month's report counts the loop per window and per deciding site. Online, the
applicant rates with the receipt's pair alone."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from hub.db_session import app_session
from hub.models import HubCase
from shared.deciding import case_work
from shared.domain.application import query_verifier
from shared.domain.retention import erased_payload
from tests.hub.conftest import Hub, hub_maker, register_at_hub

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 4, 28, 2, 0, tzinfo=UTC)  # Tuesday 28 April 2026, 10:00 in Shanghai
REVIEW, CHECK, SUPERVISOR = "mz-review", "mz-check", "sup"
OTHER, HEAD = "gt-op", "mz-head"
CODE = "ABCD2345"


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(NOW, [
        (REVIEW, "window_operator", "W-MZ-01"), (CHECK, "window_operator", "W-MZ-01"),
        (OTHER, "window_operator", "W-GT-01"), (SUPERVISOR, "supervisor", None),
        (HEAD, "department_head", "MZ")])


def _act(client: FlaskClient, hub: Hub, who: str, case_id: Any, **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                       headers=hub.bearer(who))


def _decided_case(hub: Hub, client: FlaskClient, number: int) -> uuid.UUID:
    case_id, _ = register_at_hub(hub, number)
    for who, action in ((REVIEW, "claim"), (REVIEW, "accept"), (REVIEW, "approve"),
                        (CHECK, "claim"), (CHECK, "check"), (CHECK, "issue_result")):
        assert _act(client, hub, who, case_id, action=action).status_code == 200
    return case_id


def _log(hub: Hub, case_id: uuid.UUID) -> list[Any]:
    with app_session(hub.app) as session:
        return case_work.case_events(session, hub.services.sync_site, case_id)


def test_a_bad_rating_opens_a_rectification_that_the_department_answers(hub: Hub) -> None:
    client = hub.app.test_client()
    case_id = _decided_case(hub, client, 1)
    rated = _act(client, hub, CHECK, case_id, action="rate", rating="dissatisfied",
                 indicators={"attitude": 1}, comment="窗口让我等了两个小时")
    assert rated.status_code == 200, rated.get_json()

    opened = [e for e in _log(hub, case_id) if e.type.value == "rectification_opened"]
    assert len(opened) == 1
    assert opened[0].payload["department"] == "MZ"
    # 15 working days after Tuesday 28 April 2026, the Labour Day holiday (1-5 May) left
    # out and Saturday 9 May worked: Thursday 21 May, to its end in Shanghai
    assert opened[0].payload["due"] == "2026-05-21T16:00:00+00:00"

    # the call-back waits for the department's answer; another department may not answer
    early = _act(client, hub, SUPERVISOR, case_id, action="record_callback",
                 callback="satisfied")
    assert early.status_code == 409, early.get_json()
    stranger = _act(client, hub, OTHER, case_id, action="answer_rectification",
                    reason="不是我们部门的事项")
    assert stranger.status_code == 404  # another department's case is not in its reach
    vague = _act(client, hub, HEAD, case_id, action="answer_rectification", reason="好")
    assert vague.status_code == 400
    assert "reason" in vague.get_json()["error"]["fields"]

    hub.clock.now += timedelta(days=3)
    answered = _act(client, hub, HEAD, case_id, action="answer_rectification",
                    reason="已约谈窗口人员，增设叫号提醒")
    assert answered.status_code == 200, answered.get_json()
    again = _act(client, hub, REVIEW, case_id, action="answer_rectification",
                 reason="再次答复同一整改")
    assert again.status_code == 409
    called = _act(client, hub, SUPERVISOR, case_id, action="record_callback",
                  callback="satisfied", comment="申请人表示满意")
    assert called.status_code == 200, called.get_json()

    with app_session(hub.app) as session:
        row = session.get(HubCase, case_id)
        assert row is not None
        assert (row.rect_status, row.rect_department, row.rect_outcome) == (
            "closed", "MZ", "satisfied")
    types = [e.type.value for e in _log(hub, case_id)]
    assert types[-4:] == ["rated", "rectification_opened", "rectification_answered",
                          "callback_recorded"]
    callback = _log(hub, case_id)[-1]
    assert "note" not in erased_payload("callback_recorded", callback.payload)

    page = hub.login(HEAD).get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert 'id="rectification"' in page and "已回访办结" in page


def test_a_good_rating_opens_none_and_the_report_counts_the_loop(hub: Hub,
                                                                 tmp_path: Path) -> None:
    client = hub.app.test_client()
    good = _decided_case(hub, client, 1)
    assert _act(client, hub, CHECK, good, action="rate", rating="satisfied").status_code == 200
    assert not [e for e in _log(hub, good) if e.type.value == "rectification_opened"]
    assert _act(client, hub, HEAD, good, action="answer_rectification",
                reason="没有可答复的整改").status_code == 409

    late, on_time, open_ = (_decided_case(hub, client, n) for n in (2, 3, 4))
    for case_id in (late, on_time, open_):
        assert _act(client, hub, CHECK, case_id, action="rate",
                    rating="very_dissatisfied").status_code == 200
    assert _act(client, hub, HEAD, on_time, action="answer_rectification",
                reason="已整改并培训窗口人员").status_code == 200
    hub.clock.now += timedelta(days=30)  # past the due day of all three
    assert _act(client, hub, HEAD, late, action="answer_rectification",
                reason="逾期答复：已整改").status_code == 200
    assert _act(client, hub, SUPERVISOR, late, action="record_callback",
                callback="not_satisfied").status_code == 200

    report = hub.login(SUPERVISOR).get("/api/v1/reports/month?date=2026-05-01").get_json()
    row = next(r for r in report["rows"] if r["window"] == "W-MZ-01")
    assert (row["rectifications"], row["rectified_on_time"], row["rectifications_overdue"],
            row["callbacks_satisfied"]) == (3, 1, 2, 0)
    by_site = report["rectifications_by_site"]
    assert by_site == [{"site": hub.services.sync_site.code, "rectifications": 3,
                        "rectified_on_time": 1, "rectifications_overdue": 2,
                        "callbacks_satisfied": 0}]
    csv = hub.login(SUPERVISOR).get("/api/v1/reports/month?date=2026-05-01&format=csv")
    header = csv.get_data(as_text=True).splitlines()[0].split(",")
    first = header.index("rectifications")
    assert header[first:first + 4] == ["rectifications", "rectified_on_time",
                                       "rectifications_overdue", "callbacks_satisfied"]
    page = hub.login(SUPERVISOR).get("/supervision/reports/month?date=2026-05-01")
    table = page.get_data(as_text=True).split('id="rectifications"', 1)[1].split("</table>")[0]
    assert "<td>W-MZ-01</td><td class=\"n\">3</td><td class=\"n\">1</td>" in table
    pdf = hub.login(SUPERVISOR).get("/api/v1/reports/month?date=2026-05-01&format=pdf")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "差评整改" in text  # the rectification table, its window's line under it
    assert any(ln.split() == ["W-MZ-01", "3", "1", "2", "0"] for ln in text.splitlines())


def test_the_applicant_rates_online_with_the_receipts_pair(hub: Hub) -> None:
    client = hub.app.test_client()
    case_id = uuid.uuid4()
    case_id, acceptance_no = register_at_hub(
        hub, case_id=case_id, query_verifier=query_verifier(case_id, CODE))
    body = {"acceptance_no": acceptance_no, "query_code": CODE, "rating": "very_dissatisfied",
            "indicators": {"guide_accuracy": 1, "convenience": 2}, "comment": "指南漏列材料"}
    early = client.post("/api/v1/public/rating", json=body)
    assert early.status_code == 409  # not before the result is issued
    for who, action in ((REVIEW, "claim"), (REVIEW, "accept"), (REVIEW, "approve"),
                        (CHECK, "claim"), (CHECK, "check"), (CHECK, "issue_result")):
        assert _act(client, hub, who, case_id, action=action).status_code == 200

    status = client.get("/status", query_string={"acceptance_no": acceptance_no,
                                                 "query_code": CODE}).get_data(as_text=True)
    assert 'id="rate-online"' in status
    wrong = client.post("/api/v1/public/rating", json={**body, "query_code": "ABCD2346"})
    assert wrong.status_code == 404
    assert wrong.get_json()["error"]["code"] == "not_found"
    window_scores = client.post("/api/v1/public/rating",
                                json={**body, "indicators": {"attitude": 3}})
    assert window_scores.status_code == 400  # online scores the guide and convenience

    rated = client.post("/api/v1/public/rating", json=body)
    assert rated.status_code == 200, rated.get_json()
    assert client.post("/api/v1/public/rating", json=body).status_code == 409  # once

    log = _log(hub, case_id)
    ratings = [e for e in log if e.type.value == "rated"]
    assert len(ratings) == 1
    assert ratings[0].actor.username == "online"
    assert ratings[0].payload["channel"] == "online"
    assert ratings[0].payload["indicators"] == {"guide_accuracy": 1, "convenience": 2}
    assert log[-1].type.value == "rectification_opened"
    assert log[-1].payload["department"] == "MZ"

    page = client.get("/rate", query_string={"acceptance_no": acceptance_no})
    assert page.status_code == 200 and 'name="rating"' in page.get_data(as_text=True)
