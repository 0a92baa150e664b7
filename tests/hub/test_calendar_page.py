"""The public working-day calendar (``/calendar``): no login, this year's grids with their
holidays and weekend days worked, links to the neighbouring years, and a year not held.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.hub.conftest import Hub, User

MAX_PAGE_BYTES = 60 * 1024
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture
def hub(make_hub: Callable[[datetime, list[User]], Hub]) -> Hub:
    """A hub whose clock reads a day of 2026; nobody needs to sign in."""
    return make_hub(NOW, [])


def test_the_calendar_of_this_year_shows_national_day(hub: Hub) -> None:
    client = hub.app.test_client()  # no login: the calendar is public
    now = client.get("/calendar")
    assert now.status_code == 302 and now.headers["Location"] == "/calendar/2026"
    response = client.get("/calendar/2026")
    assert response.status_code == 200
    assert len(response.data) < MAX_PAGE_BYTES
    page = response.get_data(as_text=True)
    assert "国庆节" in page and "National Day" not in page  # Chinese unless asked
    october = re.search(r'id="m10">(.*?)</div>', page, re.S)
    assert october is not None
    assert '<td class="holiday" title="国庆节">1<small>休</small></td>' in october.group(1)
    assert re.search(r'<td class="adjusted" title="[^"]+">\d+<small>班</small>', page)
    assert 'href="/calendar/2025" id="prev-year"' in page
    assert 'href="/calendar/2027" id="next-year"' in page
    holidays = page.split('id="holidays"')[1]
    assert re.findall(r"<tr><td>(\S+)</td>", holidays) == [
        "元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]
    national = re.search(r"<tr><td>国庆节</td>.*?</tr>", page)
    assert national is not None and "10-01 – 10-07" in national.group(0)


def test_a_year_without_a_calendar_is_not_found(hub: Hub) -> None:
    client = hub.app.test_client()
    response = client.get("/calendar/1999")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'id="missing"' in page and 'href="/calendar/2026"' in page
    last = client.get("/calendar/2027").get_data(as_text=True)
    assert 'id="next-year"' not in last and "暂定" in last
