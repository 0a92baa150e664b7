"""The rating page at the window and the rating figures at the hub (PostgreSQL, a schema of
its own), on cases registered at the city's front desk and decided at two windows of two
departments.

The page: offered on the case page only once the result is issued and while the case is
unrated; it shows the acceptance number, the item and the masked name and nothing else of the
applicant; one submit records one ``rated`` event of channel ``window``; the thank-you screen
names no case; a second submit (or opening the page again) is refused plainly; another
window's operator gets 404, a supervisor 403. The figures: the test rates cases through the
page and through the action API, keeps what it submitted, and the page's tables and the CSV
count exactly that, per window, department and item, in the month of the decisions."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.db_session import app_session
from shared.deciding import case_work
from shared.deciding.rating_figures import CSV_COLUMNS
from shared.domain.rating import RATINGS
from tests.hub.conftest import Hub, hub_maker, register_at_hub

pytestmark = pytest.mark.postgres

MAY = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 9, 2, 0, tzinfo=UTC)
MZ_REVIEW, MZ_CHECK = "mz-review", "mz-check"
NY_REVIEW, NY_CHECK = "ny-review", "ny-check"
SUPERVISOR = "city-sup"
NY_ITEM = {"item_code": "NY-3301", "window": "W-NY-01",
           "form": {"enterprise_name": "郴州市丰收种业有限公司", "uscc": "91431000MA4L0000XX",
                    "crop": "水稻", "registered_capital": 500}}
WINDOWS = {"W-MZ-01": (MZ_REVIEW, MZ_CHECK, "MZ", "MZ-0520"),
           "W-NY-01": (NY_REVIEW, NY_CHECK, "NY", "NY-3301")}
MAX_TABLET_BYTES = 8 * 1024
"""The tablet page, markup and CSS together: about a second at 64 kbit/s."""


@pytest.fixture
def hub(tmp_path: Path, pg_schema_url: str) -> Hub:
    return hub_maker(tmp_path, pg_schema_url)(MAY, [
        (MZ_REVIEW, "window_operator", "W-MZ-01"), (MZ_CHECK, "window_operator", "W-MZ-01"),
        (NY_REVIEW, "window_operator", "W-NY-01"), (NY_CHECK, "window_operator", "W-NY-01"),
        (SUPERVISOR, "supervisor", None)])


def _act(hub: Hub, who: str, case_id: uuid.UUID, **body: Any) -> Any:
    return hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions", json=body,
                                      headers=hub.bearer(who))


def _decided(hub: Hub, window: str, number: int, *, issue: bool = True) -> uuid.UUID:
    """A case of ``window``'s item registered at the front desk, decided (一审一核) and, with
    ``issue``, its result issued."""
    review, check, _, _ = WINDOWS[window]
    case_id, _ = register_at_hub(hub, number, **(NY_ITEM if window == "W-NY-01" else {}))
    steps = [(review, "claim"), (review, "accept"), (review, "approve"), (check, "claim"),
             (check, "check")] + ([(check, "issue_result")] if issue else [])
    for who, action in steps:
        response = _act(hub, who, case_id, action=action)
        assert response.status_code == 200, (action, response.get_json())
    return case_id


def _rated_events(hub: Hub, case_id: uuid.UUID) -> list[dict[str, Any]]:
    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case_id)
    return [dict(e.payload) for e in events if e.type.value == "rated"]


def test_the_tablet_page_rates_a_case_once_and_forgets_it(hub: Hub) -> None:
    case_id = _decided(hub, "W-MZ-01", 1, issue=False)
    desk = hub.login(MZ_CHECK)
    case_page = f"/windows/cases/{case_id}"
    assert 'id="rate-tablet"' not in desk.get(case_page).get_data(as_text=True)  # not issued
    assert _act(hub, MZ_CHECK, case_id, action="issue_result").status_code == 200
    opened = desk.get(case_page).get_data(as_text=True)
    assert f'href="/windows/rate/{case_id}"' in opened

    tablet = desk.get(f"/windows/rate/{case_id}")
    html = tablet.get_data(as_text=True)
    assert tablet.status_code == 200
    assert len(tablet.get_data()) < MAX_TABLET_BYTES
    assert re.search(r'id="acceptance-no">431000-\d{8}-0001<', html)
    assert 'id="applicant">李*<' in html and "社会团体成立登记" in html
    for personal in ("李四", "1101051949", "13800138000", "002X"):
        assert personal not in html
    assert html.count('name="rating"') == 5
    assert all(html.count(f'name="{key}"') == 5
               for key in ("efficiency", "attitude", "service_level"))
    assert "<script" not in html and "<img" not in html

    bad = desk.post(f"/windows/rate/{case_id}", data={"efficiency": "4"})  # no level
    assert bad.status_code == 400 and "rating" in bad.get_data(as_text=True)
    assert _rated_events(hub, case_id) == []

    done = desk.post(f"/windows/rate/{case_id}", data={
        "rating": "satisfied", "efficiency": "5", "attitude": "4", "service_level": "",
        "comment": "  很快  "})
    assert done.status_code == 303 and done.headers["Location"].endswith("/windows/rate/thanks")
    thanks = desk.get("/windows/rate/thanks").get_data(as_text=True)
    assert "感谢您的评价" in thanks and "431000-" not in thanks and str(case_id) not in thanks
    assert 'href="/windows"' in thanks  # the operator's way back
    assert _rated_events(hub, case_id) == [{"rating": "satisfied", "channel": "window",
                                            "indicators": {"efficiency": 5, "attitude": 4},
                                            "comment": "很快"}]

    again = desk.post(f"/windows/rate/{case_id}", data={"rating": "very_dissatisfied"})
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and "本件已评价,每件只能评价一次" in text
    assert "431000-" not in text and "satisfied" not in text
    reopened = desk.get(f"/windows/rate/{case_id}")
    assert reopened.status_code == 409 and 'name="rating"' not in reopened.get_data(as_text=True)
    assert len(_rated_events(hub, case_id)) == 1
    assert 'id="rate-tablet"' not in desk.get(case_page).get_data(as_text=True)

    english = desk.get(f"/windows/rate/{case_id}?lang=en").get_data(as_text=True)
    assert "one rating per case" in english


def test_only_the_cases_window_operator_opens_the_tablet_page(hub: Hub) -> None:
    case_id = _decided(hub, "W-MZ-01", 1)
    assert hub.login(NY_REVIEW).get(f"/windows/rate/{case_id}").status_code == 404
    supervisor = hub.app.test_client()
    supervisor.post("/login", data={"username": SUPERVISOR, "password": "correct horse battery",
                                    "otp": hub.one_time_code(SUPERVISOR)})
    refused = supervisor.get(f"/windows/rate/{case_id}")
    assert refused.status_code == 403 and 'name="rating"' not in refused.get_data(as_text=True)
    assert hub.app.test_client().get(f"/windows/rate/{case_id}").status_code == 302  # login
    assert _rated_events(hub, case_id) == []


def _figures_page(hub: Hub, **query: str) -> Any:
    client = hub.login(SUPERVISOR)
    return client.get("/supervision/ratings", query_string=query)


def _table_rows(html: str, table: str) -> dict[str, list[str]]:
    """``first cell -> the other cells`` of a table of the page."""
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                         row, re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_the_figures_count_what_was_rated_per_window_department_and_item(hub: Hub) -> None:
    plan = [("W-MZ-01", "very_satisfied", "page"), ("W-MZ-01", "satisfied", "api"),
            ("W-MZ-01", "dissatisfied", "page"), ("W-MZ-01", None, ""),
            ("W-NY-01", "basically_satisfied", "api"), ("W-NY-01", "very_dissatisfied", "page")]
    given: dict[str, Counter[str]] = {}
    decided: Counter[str] = Counter()
    for number, (window, rating, how) in enumerate(plan, start=1):
        case_id = _decided(hub, window, number)
        decided[window] += 1
        given.setdefault(window, Counter())
        if how == "page":
            sent = hub.login(WINDOWS[window][0]).post(f"/windows/rate/{case_id}",
                                                      data={"rating": rating, "attitude": "3"})
            assert sent.status_code == 303
        elif how == "api":
            assert _act(hub, WINDOWS[window][1], case_id, action="rate",
                        rating=rating).status_code == 200
        if rating:
            given[window][str(rating)] += 1
    _decided(hub, "W-MZ-01", 90, issue=False)  # decided in May, result not issued: unrated
    decided["W-MZ-01"] += 1
    register_at_hub(hub, 91)  # undecided: not counted
    hub.clock.now = JUNE
    june = _decided(hub, "W-MZ-01", 92)  # decided and rated in June: not May's
    assert _act(hub, MZ_CHECK, june, action="rate", rating="satisfied").status_code == 200

    page = _figures_page(hub, period="month", date="2026-05-20")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and "<script" not in html
    assert len(page.get_data()) < 20_000
    assert "(非常满意 + 满意 + 基本满意) ÷ 已评价件数" in html  # the rule, said on the page
    by_window = _table_rows(html, "by-window")
    for window, counts in given.items():
        rated = sum(counts.values())
        satisfied = sum(counts[r] for r in RATINGS[:3])
        cells = by_window[window]
        assert cells[0] == str(decided[window])
        assert cells[1:6] == [str(counts[r]) for r in RATINGS]
        assert cells[6] == str(rated)
        assert cells[7] == f"{rated / decided[window] * 100:.1f}%"
        assert cells[8] == f"{satisfied / rated * 100:.1f}%"
    total = by_window["合计"]
    assert total[0] == str(sum(decided.values())) and total[6] == "5"
    assert total[8] == "60.0%"  # 3 of 5 rated basically satisfied or better
    departments = _table_rows(html, "by-department")
    assert {k: v[6] for k, v in departments.items()} == {"民政局": "3", "农业农村局": "2"}
    assert sorted(_table_rows(html, "by-item")) == ["MZ-0520 社会团体成立登记",
                                                    "NY-3301 农作物种子生产经营许可证核发"]

    text = _figures_page(hub, period="month", date="2026-05-01", format="csv").get_data(
        as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["view"], r["key"]) for r in rows] == [
        ("window", "W-MZ-01"), ("window", "W-NY-01"), ("department", "MZ"),
        ("department", "NY"), ("item", "MZ-0520"), ("item", "NY-3301"), ("total", "")]
    for row in rows[:2]:
        counts = given[row["key"]]
        assert row["decided"] == str(decided[row["key"]])
        assert [row[r] for r in RATINGS] == [str(counts[r]) for r in RATINGS]
        assert row["rated"] == str(sum(counts.values()))
    mz = rows[0]  # 5 decided (one without its result yet), 3 rated, 2 of them satisfied
    assert (mz["rated_share"], mz["satisfaction_rate"]) == ("0.6", "0.6667")
    assert rows[2]["rated"] == mz["rated"]  # the window's department
    assert rows[-1]["satisfaction_rate"] == "0.6"

    june_rows = list(csv.DictReader(io.StringIO(_figures_page(
        hub, period="month", date="2026-06-30", format="csv").get_data(as_text=True))))
    assert [(r["view"], r["decided"], r["satisfied"]) for r in june_rows][-1] == (
        "total", "1", "1")
    week = _figures_page(hub, period="week", date="2026-05-12").get_data(as_text=True)
    assert _table_rows(week, "by-window")["合计"][6] == "5"


def test_only_supervisors_and_admins_read_the_figures(hub: Hub) -> None:
    assert hub.login(MZ_REVIEW).get("/supervision/ratings").status_code == 403
    assert hub.app.test_client().get("/supervision/ratings").status_code == 302
    bad = _figures_page(hub, period="fortnight")
    assert bad.status_code == 400 and "period" in bad.get_json()["error"]["fields"]
    empty = _figures_page(hub).get_data(as_text=True)
    assert "本期无办结件" in empty and 'id="chart"' not in empty
    english = _figures_page(hub, period="year", lang="en").get_data(as_text=True)
    assert "Nothing decided in this period" in english and "Rated share" in english
    assert "basically satisfied) ÷ rated cases" in english
    dashboard = hub.login(SUPERVISOR).get("/supervision").get_data(as_text=True)
    assert 'id="ratings" href="/supervision/ratings"' in dashboard
