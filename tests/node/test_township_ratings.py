"""Rating figures at a township that decides its own item (SQLite), on real processes.

A village registers cases of MZ-0305 (临时救助申请, decided at the township window W-MZ-11);
two township operators decide them (一审一核) through the action API and the decisions come
down. The citizens rate three of them at the village, on its case page's rating form, and
one stays unrated; the ratings travel up. The township's own projection then gives, through
:func:`shared.deciding.rating_figures.rating_figures`, exactly the counts the test made, per
window, department and item, and the CSV has the documented columns. The township's window
may not rate a case the village registered (its tablet page refuses it and the case page
does not link it), and its operators may not read the supervisor's figures.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session

from node.models import NodeWindowCase
from node.settings import NodeSettings
from shared.deciding.rating_figures import CSV_COLUMNS, csv_text, rating_figures
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.rating import RATINGS
from shared.domain.working_days import SHANGHAI
from shared.storage.db import make_engine
from tests.integration.city import AGENT, PASSWORD, TOWNSHIP, Tree, city, signed_in
from tests.integration.test_three_tiers import TOWNSHIP_FORM, TOWNSHIP_ITEM

WINDOW = "W-MZ-11"
REVIEW, CHECK = "t-review", "t-check"
TIMEOUT = 10
APPLICANT = {"name": "张三丰", "id_number": "11010519491231002X", "phone": "13800138000"}


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    with city(tmp_path, {TOWNSHIP: [(REVIEW, WINDOW), (CHECK, WINDOW)]}) as built:
        yield built


def _decided(tree: Tree, key: str) -> str:
    """A case registered at the village, decided at the township (一审一核), its result
    issued; the village holds the decision after the exchanges."""
    created = tree.agent().post(
        f"{tree.village.url}/api/v1/cases", timeout=TIMEOUT, headers={"Idempotency-Key": key},
        json={"item_code": TOWNSHIP_ITEM, "applicant": APPLICANT, "form": TOWNSHIP_FORM,
              "delivery": "village"})
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    tree.sync("village")
    base = tree.township.url
    review, check = signed_in(tree.township, REVIEW), signed_in(tree.township, CHECK)
    for who, action in ((review, "claim"), (review, "accept"), (review, "approve"),
                        (check, "claim"), (check, "check"), (check, "issue_result")):
        done = who.post(f"{base}/api/v1/cases/{case_id}/actions", timeout=TIMEOUT,
                        json={"action": action})
        assert done.status_code == 200, (action, done.text)
    return case_id


def _desk(base: str, username: str, landing: str) -> requests.Session:
    """A browser's cookie session signed in through the login form."""
    browser = requests.Session()
    form = browser.get(f"{base}/login?next={landing}", timeout=TIMEOUT)
    landed = browser.post(f"{base}/login?next={landing}", timeout=TIMEOUT, data={
        "username": username, "password": PASSWORD, "csrf_token": _token(form.text)})
    assert landed.status_code == 200, landed.text
    return browser


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _rate_at_the_village(station: requests.Session, base: str, case_id: str,
                        fields: dict[str, str]) -> None:
    """The village's rating form on its case page, posted as the browser posts it."""
    page = station.get(f"{base}/cases/{case_id}", timeout=TIMEOUT)
    assert "/rating" in page.text, "the village offers no rating form"
    done = station.post(f"{base}/cases/{case_id}/rating", timeout=TIMEOUT,
                        data={"csrf_token": _token(page.text), **fields})
    assert done.status_code == 200 and "/rating" not in done.text, done.text


@pytest.mark.integration
def test_a_township_counts_the_ratings_its_windows_were_given(tree: Tree) -> None:
    plan: list[dict[str, str]] = [
        {"rating": "very_satisfied", "efficiency": "5"},
        {"rating": "basically_satisfied"},
        {"rating": "very_dissatisfied", "attitude": "1", "comment": "等了很久"},
        {},  # decided, not rated
    ]
    cases = [_decided(tree, f"case-{number}") for number in range(len(plan))]
    tree.sync("township", "village")  # the decisions reach the village

    # rated where they were registered: the township's tablet page is not for them
    base = tree.township.url
    desk = _desk(base, CHECK, "/windows")
    case_page = desk.get(f"{base}/windows/cases/{cases[0]}", timeout=TIMEOUT).text
    assert "/windows/rate/" not in case_page
    refused = desk.get(f"{base}/windows/rate/{cases[0]}", timeout=TIMEOUT)
    assert refused.status_code == 403 and 'name="rating"' not in refused.text
    assert "the site that registered the case" in refused.text
    assert desk.get(f"{base}/supervision/ratings", timeout=TIMEOUT).status_code == 403

    station = _desk(tree.village.url, AGENT, "/cases")
    given: Counter[str] = Counter()
    for case_id, fields in zip(cases, plan, strict=True):
        if fields:
            _rate_at_the_village(station, tree.village.url, case_id, fields)
            given[fields["rating"]] += 1
    tree.sync("village")  # the ratings travel up to the township

    settings = NodeSettings.load(tree.dirs["township"])
    engine = make_engine(settings.database_url)
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    try:
        with Session(engine) as session:
            figures = rating_figures(session, NodeWindowCase, load_sample_catalogue(),
                                     TOWNSHIP, "day", today)
    finally:
        engine.dispose()
    rated = sum(given.values())
    for rows in (figures.windows, figures.departments, figures.items):
        [row] = rows
        assert (row.decided, row.rated) == (len(plan), rated)
        assert row.levels == {level: given[level] for level in RATINGS}
    assert [r.key for r in figures.windows] == [WINDOW]
    assert [r.key for r in figures.departments] == ["MZ"]
    assert [r.key for r in figures.items] == [TOWNSHIP_ITEM]
    assert figures.total.rated_share == round(rated / len(plan), 4)
    assert figures.total.satisfaction_rate == round(2 / 3, 4)  # 非常满意 and 基本满意 of 3

    rows = list(csv.DictReader(io.StringIO(csv_text(figures))))
    assert tuple(rows[0]) == CSV_COLUMNS == (
        "view", "key", "decided", "rated", "rated_share", "satisfaction_rate",
        "very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
        "very_dissatisfied")
    assert [(r["view"], r["key"], r["rated"]) for r in rows] == [
        ("window", WINDOW, "3"), ("department", "MZ", "3"), ("item", TOWNSHIP_ITEM, "3"),
        ("total", "", "3")]
