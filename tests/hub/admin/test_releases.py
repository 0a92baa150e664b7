"""The releases page (``/admin/releases``): publishing an uploaded catalogue, which versions
each direct child holds, and a bad catalogue listed problem by problem.
"""

from __future__ import annotations

import json
import re
from io import BytesIO

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hub.db_session import app_session
from hub.releases import HubRelease
from shared.exchange.status import child_info_key
from shared.storage import sync_store
from sync_protocol.times import to_ms
from tests.hub.admin.conftest import (
    MAX_PAGE_BYTES,
    NOW,
    TOWNSHIP,
    catalogue_upload,
    count_rows,
    form_token,
    problems_on,
    submit_site,
)
from tests.hub.conftest import HUB, Hub


def _upload(client: FlaskClient, file: tuple[BytesIO, str], **fields: str) -> TestResponse:
    page = client.get("/admin/releases").get_data(as_text=True)
    return client.post("/admin/releases", data={"csrf_token": form_token(page), "file": file,
                                                **fields},
                       content_type="multipart/form-data")


def test_the_releases_page_publishes_a_catalogue_and_lists_it(hub: Hub) -> None:
    admin = hub.login("city-admin")
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    empty = admin.get("/admin/releases").get_data(as_text=True)
    assert "尚未发布" in empty and 'id="form-catalogue"' in empty
    response = _upload(admin, catalogue_upload(2))
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/releases?published=2"
    listing = admin.get(response.headers["Location"])
    assert len(listing.data) < MAX_PAGE_BYTES
    page = listing.get_data(as_text=True)
    assert 'id="published"' in page and 'id="in-force-catalogue">2<' in page
    row = re.search(r'<tr id="r-catalogue-2">.*?</tr>', page, re.S)
    assert row is not None
    for shown in ("<td>事项目录</td>", "生效中", "2026-11-24 10:00", "2027-12-29 10:00",
                  "city-admin", "items"):
        assert shown in row.group(0), shown
    with app_session(hub.app) as session:
        release = session.get(HubRelease, ("catalogue", 2))
        assert release is not None and release.published_by == "city-admin"

    # the township never asked yet, then says it holds version 1: both are behind
    never = re.search(rf'<tr id="c-{TOWNSHIP}" class="behind">.*?</tr>', page, re.S)
    assert never is not None and "从未联系" in never.group(0)
    with app_session(hub.app) as session:
        sync_store.write_state(session, child_info_key(TOWNSHIP), json.dumps({
            "last_contact_ms": to_ms(NOW), "epoch": 1, "wire_version": 1,
            "releases_known": {"catalogue": 1}}).encode())
        session.commit()
    behind = admin.get("/admin/releases").get_data(as_text=True)
    cell = re.search(rf'<tr id="c-{TOWNSHIP}" class="behind"><td>[^<]*</td><td class="behind">'
                     r"1 <small>落后", behind)
    assert cell is not None

    future = _upload(admin, catalogue_upload(3), effective_from="2027-01-01")
    assert future.status_code == 303
    later = admin.get("/admin/releases").get_data(as_text=True)
    assert re.search(r'<tr id="r-catalogue-3">.*?待生效.*?2027-01-01 00:00', later, re.S)
    assert 'id="in-force-catalogue">2<' in later


def test_an_invalid_catalogue_lists_its_problems_and_publishes_nothing(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = _upload(admin, catalogue_upload(2, break_it=True))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    problems = re.findall(r"<li>(.*?)</li>", problems_on(page))
    assert len(problems) >= 2
    assert any("NOPE" in p for p in problems)
    assert any("999" in p or "promised_days" in p for p in problems)
    assert count_rows(hub.app, HubRelease) == 0

    wrong_kind = _upload(admin, catalogue_upload(2, name="catalogue.txt"))
    assert wrong_kind.status_code == 400
    assert "suffix must be .yaml, .yml or .json" in problems_on(wrong_kind.get_data(as_text=True))
    assert _upload(admin, catalogue_upload(1)).status_code == 303  # the first one is fine
    again = _upload(admin, catalogue_upload(1))
    assert again.status_code == 409
    assert "is not above 1" in problems_on(again.get_data(as_text=True))
    past = _upload(admin, catalogue_upload(2), effective_from="2026-01-01")
    assert past.status_code == 400
    assert "cannot take effect in the past" in problems_on(past.get_data(as_text=True))
    assert count_rows(hub.app, HubRelease) == 1
