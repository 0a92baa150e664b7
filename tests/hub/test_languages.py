"""The hub's pages in Chinese by default and in English on request: the sign-in page, the
window desk, the administration pages, the service guide and the calendar.

Each page is read three times by one browser session: as it comes (Chinese), with
``?lang=en`` (English, and a cookie), and again without asking (still English). A label a
person reads on each page stands for the page's language; the page also links to the other
language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests.hub.conftest import WINDOW, Hub, User, register_at_hub

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
USERS: list[User] = [("mz-review", "window_operator", WINDOW), ("city-admin", "admin", None),
                     ("city-lead", "supervisor", None)]
MAX_PAGE_BYTES = 60 * 1024


@pytest.fixture
def hub(make_hub: Callable[[datetime, list[User]], Hub]) -> Hub:
    hub = make_hub(NOW, USERS)
    register_at_hub(hub)
    return hub


def _case_path(hub: Hub) -> str:
    page = hub.login("mz-review").get(f"/windows/{WINDOW}").get_data(as_text=True)
    found = re.search(r'href="(/windows/cases/[0-9a-f-]+)"', page)
    assert found is not None
    return found.group(1)


# (path, who signs in, a Chinese label on the page, its English counterpart)
PAGES = [
    ("/login", None, "用户名", "Username"),
    (f"/windows/{WINDOW}", "mz-review", "待办案件", "Open cases"),
    (f"/windows/{WINDOW}", "city-lead", "全部改派", "Reassign all"),
    ("/admin/sites", "city-admin", "新增站点", "Add a site"),
    ("/admin/users", "city-admin", "新增用户", "Add a user"),
    ("/admin/releases", "city-lead", "直属站点持有的版本", "Versions each direct child holds"),
    ("/guide", None, "办事指南", "Service guide"),
    ("/guide/MZ-0520", None, "申请材料", "Materials"),
    ("/calendar/2025", None, "节假日安排", "Holidays"),
]


def _client(hub: Hub, username: str | None) -> FlaskClient:
    return hub.login(username) if username else hub.app.test_client()


@pytest.mark.parametrize(("path", "username", "zh", "en"), PAGES)
def test_each_page_is_chinese_until_english_is_asked_for_and_then_stays_english(
        hub: Hub, path: str, username: str | None, zh: str, en: str) -> None:
    client = _client(hub, username)
    first = client.get(path)
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and zh in page and en not in page
    switch = re.search(r'<a [^>]*href="([^"]+)" id="lang-switch"[^>]*>([^<]+)</a>', page)
    assert switch is not None and switch.group(2) == "English"
    assert switch.group(1).endswith("lang=en")

    english = client.get(switch.group(1).replace("&amp;", "&"))
    assert english.status_code == 200
    assert len(english.data) < MAX_PAGE_BYTES
    text = english.get_data(as_text=True)
    assert '<html lang="en">' in text and en in text and zh not in text
    assert 'id="lang-switch" hreflang="zh">中文<' in text

    again = client.get(path).get_data(as_text=True)  # the cookie remembers
    assert en in again and zh not in again
    back = client.get(f"{path}?lang=zh").get_data(as_text=True)
    assert zh in back and en not in back


def test_the_window_desk_in_english_names_states_items_and_history(hub: Hub) -> None:
    client = hub.login("mz-review", lang="en")  # chosen on the sign-in page
    queue = client.get(f"/windows/{WINDOW}").get_data(as_text=True)
    row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", queue, re.S)
    assert row is not None
    assert "Registration of a social organisation" in row.group(1)
    assert "<td>Routed</td>" in row.group(1)
    assert "社会团体成立登记" not in queue and "待受理" not in queue
    case = client.get(_case_path(hub)).get_data(as_text=True)
    for shown in ("Applicant", "ID number", "History", "promised", "Claim</button>",
                  "received"):
        assert shown in case, shown
    for hidden in ("申请人", "办理记录", "承办件", "认领</button>", "接收"):
        assert hidden not in case, hidden
    assert "郴州市摄影家协会" in case  # what the applicant wrote stays as written


def test_a_refusal_in_english_and_its_switch_back_to_the_case_page(hub: Hub) -> None:
    client = hub.login("mz-review")
    path = _case_path(hub)
    page = client.get(f"{path}?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    refused = client.post(f"{path}/act", data={"csrf_token": token.group(1),
                                               "action": "accept"},
                          headers={"Referer": f"http://localhost{path}"})
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert 'id="refusal">Conflict:' in text
    assert f'href="{path}?lang=zh" id="lang-switch"' in text  # not the post-only /act


def test_sign_in_errors_and_the_forbidden_page_speak_english_when_asked(hub: Hub) -> None:
    client = hub.app.test_client()
    wrong = client.post("/login?lang=en", data={"username": "mz-review", "password": "nope"})
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.get_data(as_text=True)
    assert "用户名或密码错误" in client.post(
        "/login?lang=zh", data={"username": "mz-review", "password": "nope"}
    ).get_data(as_text=True)
    operator = hub.login("mz-review", lang="en")
    refused = operator.get("/admin/sites")
    assert refused.status_code == 403 and "Not permitted" in refused.get_data(as_text=True)


def test_the_public_calendar_is_cached_per_language(hub: Hub) -> None:
    client = hub.app.test_client()
    english = client.get("/calendar/2025?lang=en")
    assert english.headers["Cache-Control"] == "public, max-age=3600"
    assert "Cookie" in english.headers["Vary"]
    text = english.get_data(as_text=True)
    assert "<td>National Day</td>" in text and "<b>October</b>" in text
    assert '<td class="holiday" title="National Day">1<small>off</small></td>' in text
