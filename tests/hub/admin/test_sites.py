"""The hub's administration pages: the tree of sites, users, releases, and the public calendar.

Like the window pages' tests, a hub app is built in-process on a data directory made by the real
``sanji hub init`` and driven with Flask's test client, logging in through the real form (admins
and supervisors with their one-time code, computed for the hub's clock). Facts the pages read
from the exchange (a child's last request, items queued toward it, a village's case) are put
where the exchange and the ingest hook put them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from hub.admin.sites import SITE_ROWS, USER_ROWS
from hub.db_session import app_session
from hub.models import HubCase, HubEnrolmentCode, HubSite
from hub.releases import HubRelease
from shared.exchange.status import child_info_key
from shared.storage import sync_store
from shared.storage.accounts import UserAccount, add_user
from shared.web.pages import CSRF_SESSION_KEY
from sync_protocol import generate_key
from sync_protocol.times import to_ms
from tests.hub.conftest import HUB, PASSWORD, Hub, User
from tests.integration.test_three_tiers import FORM

COUNTY = "431002"
TOWNSHIP = "431002001"
OTHER_TOWNSHIP = "431002002"
VILLAGE = "431002001201"
MAX_PAGE_BYTES = 60 * 1024
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture
def hub(make_hub: Callable[[datetime, list[User]], Hub]) -> Hub:
    return make_hub(NOW, [("city-admin", "admin", None), ("city-lead", "supervisor", None),
                          ("mz-desk", "window_operator", "W-MZ-01")])


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def _post(client: FlaskClient, page: str, path: str, **fields: Any) -> TestResponse:
    """Submit a form of ``page`` the way the browser does, with the page's token."""
    body = client.get(page).get_data(as_text=True)
    return client.post(path, data={"csrf_token": _token(body), **fields})


def _add_site(client: FlaskClient, code: str, name: str, tier: str,
              parent: str) -> TestResponse:
    return _post(client, "/admin/sites", "/admin/sites", code=code, name=name, tier=tier,
                 parent=parent)


def _enrol_code(page: str) -> str:
    found = re.search(r'id="enrol-code">([^<]+)<', page)
    assert found, "no enrolment code shown"
    return found.group(1)


def _tree_rows(page: str) -> list[tuple[str, float]]:
    """The sites table's rows in order: code and indentation (em)."""
    return [(code, float(indent)) for code, indent in re.findall(
        r'<tr id="s-(\d+)"><td style="padding-left:([\d.]+)em">', page)]


def _problems(page: str) -> str:
    found = re.search(r'id="problems">(.*?)</div>', page, re.S)
    assert found, "no problems listed"
    return found.group(1)


def _catalogue_upload(version: int, *, break_it: bool = False,
                      name: str | None = None) -> tuple[BytesIO, str]:
    """The sample catalogue with its version raised (and, if asked, two mistakes)."""
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_text(encoding="utf-8")
    assert "version: 1\n" in text
    text = text.replace("version: 1\n", f"version: {version}\n", 1)
    if break_it:
        text = text.replace("promised_days: 20", "promised_days: 999", 1)
        text = text.replace("department: MZ", "department: NOPE", 1)
    return BytesIO(text.encode()), name or f"catalogue-v{version}.yaml"


def _count(app: Flask, model: Any) -> int:
    with app_session(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- access ---------------------------------------------------------------------------------


PAGES = ("/admin/sites", "/admin/users", "/admin/releases")
FORMS = ("/admin/sites", "/admin/sites/reenrol", "/admin/sites/move", "/admin/users",
         "/admin/releases")


def test_the_pages_need_a_login(hub: Hub) -> None:
    client = hub.app.test_client()
    for path in (*PAGES, "/admin"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    for path in FORMS:
        assert client.post(path, data={"code": TOWNSHIP}).status_code == 302
    assert _count(hub.app, HubSite) == 1


def test_a_window_operator_is_refused(hub: Hub) -> None:
    desk = hub.login("mz-desk")
    for path in PAGES:
        assert desk.get(path).status_code == 403, path
    with desk.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    refused = desk.post("/admin/sites", data={"csrf_token": "known-token", "code": TOWNSHIP,
                                              "name": "栖凤渡镇", "tier": "township",
                                              "parent": HUB})
    assert refused.status_code == 403
    assert _count(hub.app, HubSite) == 1


def test_a_supervisor_looks_but_does_not_change(hub: Hub) -> None:
    lead = hub.login("city-lead")
    for path in PAGES:
        response = lead.get(path)
        assert response.status_code == 200, path
        assert len(response.data) < MAX_PAGE_BYTES
        assert response.headers["Cache-Control"] == "private, no-store"
        assert 'method="post" action="/admin' not in response.get_data(as_text=True)
    with lead.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    for path in FORMS:
        response = lead.post(path, data={"csrf_token": "known-token", "code": TOWNSHIP,
                                         "name": "栖凤渡镇", "tier": "township", "parent": HUB,
                                         "username": "x-1", "password": PASSWORD,
                                         "role": "agent", "site": HUB})
        assert response.status_code == 403, path
    assert _count(hub.app, HubSite) == 1
    assert _count(hub.app, UserAccount) == 3


def test_forms_without_the_session_token_are_refused(hub: Hub) -> None:
    admin = hub.login("city-admin")
    admin.get("/admin/sites")  # the session now holds a token
    fields = {"code": TOWNSHIP, "name": "栖凤渡镇", "tier": "township", "parent": HUB,
              "site": HUB, "username": "new-agent", "password": PASSWORD, "role": "agent"}
    for path in FORMS:
        missing = admin.post(path, data=fields)
        wrong = admin.post(path, data={**fields, "csrf_token": "forged"})
        assert missing.status_code == 400 and wrong.status_code == 400, path
        assert "表单已过期" in wrong.get_data(as_text=True)
    upload = admin.post("/admin/releases", data={"csrf_token": "forged",
                                                 "file": _catalogue_upload(2)},
                        content_type="multipart/form-data")
    assert upload.status_code == 400
    assert _count(hub.app, HubSite) == 1
    assert _count(hub.app, UserAccount) == 3
    assert _count(hub.app, HubEnrolmentCode) == 0
    assert _count(hub.app, HubRelease) == 0


# -- sites ----------------------------------------------------------------------------------


def test_sites_added_through_the_form_are_shown_in_tree_order_with_the_code_once(
    hub: Hub,
) -> None:
    admin = hub.login("city-admin")
    # added out of order: a second township first, the village before its sibling township
    assert _add_site(admin, OTHER_TOWNSHIP, "华塘镇", "township", HUB).status_code == 201
    added = _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    assert added.status_code == 201
    added_page = added.get_data(as_text=True)
    code = _enrol_code(added_page)
    assert code.startswith(f"{TOWNSHIP}.")
    assert 'id="enrol-expires">2026-12-01 10:00<' in added_page  # 7 days, Shanghai time
    assert "只显示这一次" in added_page
    village = _add_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
    assert village.status_code == 201
    village_code = _enrol_code(village.get_data(as_text=True))

    response = admin.get("/admin/sites")
    assert response.status_code == 200
    assert len(response.data) < MAX_PAGE_BYTES
    page = response.get_data(as_text=True)
    assert _tree_rows(page) == [(HUB, 0.3), (TOWNSHIP, 1.8), (VILLAGE, 3.3),
                                (OTHER_TOWNSHIP, 1.8)]
    assert code not in page and village_code not in page  # shown once, never again
    row = re.search(rf'<tr id="s-{VILLAGE}">.*?</tr>', page, re.S)
    assert row is not None
    assert "石门村" in row.group(0) and "<td>村</td>" in row.group(0)
    assert "未注册<br><small>注册码至 2026-12-01 10:00<" in row.group(0)
    with app_session(hub.app) as session:
        stored = session.get(HubSite, VILLAGE)
        assert stored is not None and stored.parent == TOWNSHIP and stored.tier == "village"
        codes = session.scalars(select(HubEnrolmentCode.code).order_by(HubEnrolmentCode.id))
        assert list(codes)[1:] == [code, village_code]

    zoomed = admin.get(f"/admin/sites?under={TOWNSHIP}").get_data(as_text=True)
    assert [c for c, _ in _tree_rows(zoomed)] == [TOWNSHIP, VILLAGE]
    assert admin.get("/admin/sites?under=999999").status_code == 404


def test_reenrolling_issues_a_new_code_and_the_old_one_stops_working(hub: Hub) -> None:
    admin = hub.login("city-admin")
    _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    first = _enrol_code(_add_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
                        .get_data(as_text=True))
    hub.clock.now = NOW.replace(hour=5)
    response = _post(admin, "/admin/sites", "/admin/sites/reenrol", site=VILLAGE)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    second = _enrol_code(page)
    assert second != first and second.startswith(f"{VILLAGE}.")
    assert "原注册码作废" in page
    with app_session(hub.app) as session:
        rows = {r.code: r for r in session.scalars(
            select(HubEnrolmentCode).where(HubEnrolmentCode.site == VILLAGE))}
        assert rows[first].used_ms == to_ms(hub.clock.now)
        assert rows[second].used_ms is None

    unknown = _post(admin, "/admin/sites", "/admin/sites/reenrol", site="431002001299")
    assert unknown.status_code == 404
    assert "no site 431002001299" in _problems(unknown.get_data(as_text=True))
    itself = _post(admin, "/admin/sites", "/admin/sites/reenrol", site=HUB)
    assert itself.status_code == 400
    assert 'id="enrol-code"' not in itself.get_data(as_text=True)


def test_moving_a_site_puts_it_under_its_new_parent(hub: Hub) -> None:
    admin = hub.login("city-admin")
    _add_site(admin, COUNTY, "北湖区", "county", HUB)
    _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", COUNTY)
    _add_site(admin, OTHER_TOWNSHIP, "华塘镇", "township", HUB)
    _add_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
    moved = _post(admin, "/admin/sites", "/admin/sites/move", site=VILLAGE,
                  parent=OTHER_TOWNSHIP)
    assert moved.status_code == 303
    assert moved.headers["Location"] == f"/admin/sites?moved={VILLAGE}"
    page = admin.get(moved.headers["Location"]).get_data(as_text=True)
    assert 'id="moved"' in page
    assert [c for c, _ in _tree_rows(page)] == [HUB, COUNTY, TOWNSHIP, OTHER_TOWNSHIP, VILLAGE]
    with app_session(hub.app) as session:
        site = session.get(HubSite, VILLAGE)
        assert site is not None and site.parent == OTHER_TOWNSHIP

    under_village = _post(admin, "/admin/sites", "/admin/sites/move", site=TOWNSHIP,
                          parent=VILLAGE)
    loop = _post(admin, "/admin/sites", "/admin/sites/move", site=COUNTY, parent=TOWNSHIP)
    root = _post(admin, "/admin/sites", "/admin/sites/move", site=HUB, parent=COUNTY)
    assert under_village.status_code == 400
    assert "a village has no sites below it" in _problems(under_village.get_data(as_text=True))
    assert loop.status_code == 400 and "loop" in _problems(loop.get_data(as_text=True))
    assert root.status_code == 400 and "root" in _problems(root.get_data(as_text=True))
    with app_session(hub.app) as session:
        parents = dict(session.execute(select(HubSite.code, HubSite.parent)).all())
    assert parents == {HUB: None, COUNTY: HUB, TOWNSHIP: COUNTY, OTHER_TOWNSHIP: HUB,
                       VILLAGE: OTHER_TOWNSHIP}


def test_a_bad_site_form_lists_every_problem_and_adds_nothing(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = _add_site(admin, "43100x", " ", "province", "431099")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    listed = _problems(page)
    for field, reason in (("code", "must contain only digits"), ("name", "1-80 characters"),
                          ("tier", "one of county, township, village"),
                          ("parent", "no site 431099")):
        assert f"<b>{field}</b>: " in listed and reason in listed, field
    assert 'id="enrol-code"' not in page
    assert 'value="43100x"' in page  # the form keeps what was typed
    assert _count(hub.app, HubSite) == 1

    _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    again = _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    assert again.status_code == 400
    assert f"site {TOWNSHIP} exists already" in _problems(again.get_data(as_text=True))


def test_the_map_shows_contact_pending_items_events_and_open_cases(hub: Hub) -> None:
    admin = hub.login("city-admin")
    _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    _add_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
    services = hub.services
    case_id = uuid.uuid4()
    with app_session(hub.app) as session:
        # a village case reaches the hub through its township, as the exchange stores it
        row = sync_store.author_event(
            session, generate_key(VILLAGE), services.sync_site.sealer, epoch=1,
            case_id=case_id, actor="agent:village-agent", type="registered",
            payload=_registration(case_id, services.catalogue.version),
            at_ms=to_ms(NOW), up=False, now_ms=to_ms(NOW))
        event = sync_store.as_event(row, services.sync_site.sealer)
        services.sync_site.hooks.events_arrived(session, [event], NOW)
        # the township's last request, and two items waiting to go down to it
        sync_store.write_state(session, child_info_key(TOWNSHIP), json.dumps({
            "last_contact_ms": to_ms(NOW.replace(hour=1)), "epoch": 2, "wire_version": 1,
            "releases_known": {}}).encode())
        for _ in range(2):
            sync_store.enqueue_down(session, TOWNSHIP, event, epoch=1, now_ms=to_ms(NOW))
        session.commit()
        assert session.get(HubCase, case_id) is not None
    page = admin.get("/admin/sites").get_data(as_text=True)
    cells = {code: re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for code, row in re.findall(
        r'<tr id="s-(\d+)">(.*?)</tr>', page, re.S)}
    township, village = cells[TOWNSHIP], cells[VILLAGE]
    assert township[4].startswith("2026-11-24 09:00") and "联系 e2" in township[4]
    assert township[5] == "2" and township[7] == "1"
    assert village[4].startswith("2026-11-24 10:00") and "最近事件" in village[4]
    assert village[5] == "—" and village[6] == "1"  # the village's open case
    assert cells[HUB][7] == "1" and cells[HUB][6] == "0"


def _registration(case_id: uuid.UUID, catalogue_version: int) -> dict[str, Any]:
    return {
        "case_id": str(case_id), "acceptance_no": f"{VILLAGE}-20261124-0001",
        "item_code": "MZ-0520", "catalogue_version": catalogue_version, "kind": "promised",
        "window": "W-MZ-01", "delivery": "window",
        "applicant": {"kind": "person", "name": "李四", "id_number": "11010519491231002X",
                      "phone": "13800138000"},
        "form": FORM,
        "materials": [{"code": "APPLICATION", "sha256": "ab" * 32, "size": 245_760,
                       "media_type": "application/pdf"}],
    }


def test_a_large_tree_and_many_users_are_paged_under_the_size_limit(hub: Hub) -> None:
    """The worst rows a city has: every site enrolled, with a key, a code re-issued, a long
    name and an event; every user with a window and a department."""
    with app_session(hub.app) as session:
        codes: list[str] = []
        for t in range(1, 21):
            township = f"431002{t:03d}"
            codes.append(township)
            codes += [f"{township}{v:03d}" for v in range(1, 16)]
        for code in codes:
            session.add(HubSite(code=code, name="栖凤渡镇石门村村民委员会服务站"[: len(code)],
                                tier="township" if len(code) == 9 else "village",
                                parent=HUB if len(code) == 9 else code[:9],
                                created_ms=to_ms(NOW), enrolled_ms=to_ms(NOW),
                                key_id="0123456789abcdef"))
            session.add(HubEnrolmentCode(site=code, code=f"{code}.ABCDEFGHJKLM",
                                         expires_ms=to_ms(NOW) + 86_400_000))
            session.add(sync_store.SyncEvent(
                case_id=uuid.uuid4(), origin=code, epoch=1, seq=1, actor="agent:a",
                at_ms=to_ms(NOW), type="registered", payload=b"{}", prev_hash=b"0" * 32,
                hash=code.encode().ljust(32, b"0"), recorded_ms=to_ms(NOW)))
            session.add(UserAccount(username=f"desk-{code}", password_hash="$argon2id$x",
                                    role="window_operator", site=code, window="W-MZ-01",
                                    department="民政局社会组织管理科", active=True,
                                    created_at=to_ms(NOW)))
        session.commit()
    admin = hub.login("city-admin")
    seen: list[str] = []
    url: str | None = "/admin/sites"
    while url is not None:
        response = admin.get(url)
        assert len(response.data) < MAX_PAGE_BYTES, len(response.data)
        page = response.get_data(as_text=True)
        assert 'id="count">321<' in page
        rows = [code for code, _ in _tree_rows(page)]
        assert len(rows) == min(SITE_ROWS, 321 - len(seen))
        seen += rows
        found = re.search(r'href="([^"]+)" id="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 321 and seen[:3] == [HUB, "431002001", "431002001001"]
    assert seen[-1] == "431002020015"
    users = admin.get("/admin/users")
    assert len(users.data) < MAX_PAGE_BYTES, len(users.data)
    assert 'id="count">323<' in users.get_data(as_text=True)
    assert f'href="/admin/users?start={USER_ROWS}" id="next"' in users.get_data(as_text=True)


# -- users ----------------------------------------------------------------------------------


def test_the_users_page_adds_a_window_operator_and_refuses_a_duplicate(hub: Hub) -> None:
    admin = hub.login("city-admin")
    listing = admin.get("/admin/users")
    assert listing.status_code == 200 and len(listing.data) < MAX_PAGE_BYTES
    assert 'id="u-mz-desk"' in listing.get_data(as_text=True)
    fields = {"username": "mz-review", "password": PASSWORD, "role": "window_operator",
              "site": HUB, "window": "W-MZ-01", "department": "民政局"}
    added = _post(admin, "/admin/users", "/admin/users", **fields)
    assert added.status_code == 303
    assert added.headers["Location"] == "/admin/users?added=mz-review"
    page = admin.get(added.headers["Location"]).get_data(as_text=True)
    row = re.search(r'<tr id="u-mz-review">.*?</tr>', page, re.S)
    assert row is not None
    for shown in ("<td>窗口人员</td>", HUB, "郴州市政务服务中心", "W-MZ-01", "民政局",
                  "2026-11-24 10:00"):
        assert shown in row.group(0), shown
    assert hub.login("mz-review").get("/windows").status_code in (200, 302)

    duplicate = _post(admin, "/admin/users", "/admin/users", **fields)
    assert duplicate.status_code == 409
    assert "<b>username</b>: already taken" in _problems(duplicate.get_data(as_text=True))
    assert _count(hub.app, UserAccount) == 4


def test_a_supervisor_added_here_sees_the_totp_secret_once(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = _post(admin, "/admin/users", "/admin/users", username="city-lead-2",
                     password=PASSWORD, role="supervisor", site=HUB)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    assert len(response.data) < MAX_PAGE_BYTES
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found is not None
    with app_session(hub.app) as session:
        user = session.get(UserAccount, "city-lead-2")
        assert user is not None and user.totp_secret == found.group(1)
    assert '<svg width="' in page  # the QR code for an authenticator app
    hub.secrets["city-lead-2"] = found.group(1)
    assert hub.login("city-lead-2").get("/admin/sites").status_code == 200
    assert found.group(1) not in admin.get("/admin/users").get_data(as_text=True)


def test_a_username_taken_meanwhile_is_refused_not_an_error(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins add the same username at once: the later commit is told, not a 500."""
    import hub.admin.sites as views

    def racing_add_user(session: Any, **fields: Any) -> UserAccount:
        user = add_user(session, **fields)  # the name is free when checked...
        with app_session(hub.app) as other:  # ...and another admin commits it meanwhile
            add_user(other, **fields)
            other.commit()
        return user

    monkeypatch.setattr(views, "add_user", racing_add_user)
    admin = hub.login("city-admin")
    response = _post(admin, "/admin/users", "/admin/users", username="ny-desk",
                     password=PASSWORD, role="window_operator", site=HUB, window="W-NY-01")
    assert response.status_code == 409
    assert "<b>username</b>: already taken" in _problems(response.get_data(as_text=True))
    assert _count(hub.app, UserAccount) == 4


def test_a_bad_user_form_lists_every_problem(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = _post(admin, "/admin/users", "/admin/users", username="has space",
                     password="short", role="window_operator", site="431099", window="")
    assert response.status_code == 400
    listed = _problems(response.get_data(as_text=True))
    for field in ("username", "password", "window", "site"):
        assert f"<b>{field}</b>: " in listed, field
    assert "no site 431099 in the registry" in listed
    unknown_window = _post(admin, "/admin/users", "/admin/users", username="x-desk",
                           password=PASSWORD, role="finance", site=HUB, window="W-NOPE")
    assert unknown_window.status_code == 400
    assert "W-NOPE" in _problems(unknown_window.get_data(as_text=True))
    assert _count(hub.app, UserAccount) == 3


def _change(client: FlaskClient, username: str, **fields: str) -> TestResponse:
    return _post(client, f"/admin/users/{username}", f"/admin/users/{username}", **fields)


def test_a_disabled_user_is_signed_out_at_once_and_enabled_again(hub: Hub) -> None:
    desk = hub.login("mz-desk")
    assert desk.get("/windows/W-MZ-01").status_code == 200
    admin = hub.login("city-admin")
    page = admin.get("/admin/users/mz-desk")
    assert page.status_code == 200 and len(page.data) < MAX_PAGE_BYTES
    assert 'id="revision">1<' in page.get_data(as_text=True)

    disabled = _change(admin, "mz-desk", change="disable")
    assert disabled.status_code == 303
    shown = admin.get(disabled.headers["Location"]).get_data(as_text=True)
    assert 'id="changed"' in shown and 'id="revision">2<' in shown and 'id="status">停用<' in shown
    assert desk.get("/windows/W-MZ-01").status_code == 302  # the session ended with it
    refused = hub.app.test_client().post("/login", data={"username": "mz-desk",
                                                         "password": PASSWORD})
    assert refused.status_code == 401

    assert _change(admin, "mz-desk", change="enable").status_code == 303
    assert hub.login("mz-desk").get("/windows/W-MZ-01").status_code == 200


def test_a_new_password_and_a_role_change_are_checked_and_a_supervisor_may_not(
    hub: Hub,
) -> None:
    admin = hub.login("city-admin")
    short = _change(admin, "mz-desk", change="password", password="short")
    assert short.status_code == 400
    assert "<b>password</b>: " in _problems(short.get_data(as_text=True))
    no_window = _change(admin, "mz-desk", change="role", role="finance", window="")
    assert no_window.status_code == 400
    assert "<b>window</b>: " in _problems(no_window.get_data(as_text=True))
    unknown = _change(admin, "mz-desk", change="role", role="finance", window="W-NOPE")
    assert unknown.status_code == 400 and "W-NOPE" in unknown.get_data(as_text=True)
    with app_session(hub.app) as session:
        user = session.get(UserAccount, "mz-desk")
        assert user is not None and (user.role, user.revision) == ("window_operator", 1)

    lead = hub.login("city-lead")
    assert lead.get("/admin/users/mz-desk").status_code == 200
    with lead.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    assert lead.post("/admin/users/mz-desk", data={"csrf_token": "known-token",
                                                   "change": "disable"}).status_code == 403

    new_password = _change(admin, "mz-desk", change="password", password="another horse battery")
    assert new_password.status_code == 303
    promoted = _change(admin, "mz-desk", change="role", role="supervisor")
    assert promoted.status_code == 200  # the new one-time-code secret, shown once
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', promoted.get_data(as_text=True))
    assert secret is not None
    assert admin.get("/admin/users/nobody").status_code == 404


def _enrolled(hub: Hub, code: str, tier: str, parent: str) -> None:
    """A site registered and enrolled with a key of its own (its certificate held here)."""
    from hub.sites import add_site, enrol
    from shared.exchange.enrolment import request_bytes

    services = hub.services
    with app_session(hub.app) as session:
        issued = add_site(session, code=code, name=f"站点{code[-3:]}", tier=tier, parent=parent,
                          now=NOW)
        enrol(session, services.key, request_bytes(generate_key(code), issued.code, NOW),
              releases=[], now=NOW)
        session.commit()


def _account_items_toward(hub: Hub, child: str) -> list[dict[str, Any]]:
    """The account copies queued in the stream toward ``child``, in order."""
    import cbor2

    with app_session(hub.app) as session:
        rows = session.scalars(select(sync_store.SyncDown.item).where(
            sync_store.SyncDown.child == child).order_by(sync_store.SyncDown.link_seq))
        items = [cbor2.loads(row)[3] for row in rows]
    return [fields[7] for fields in items if fields[6] == "account_state"]


def test_changes_to_a_village_user_are_queued_toward_the_village_signed_by_the_hub(
    hub: Hub,
) -> None:
    _enrolled(hub, TOWNSHIP, "township", HUB)
    _enrolled(hub, VILLAGE, "village", TOWNSHIP)
    admin = hub.login("city-admin")
    added = _post(admin, "/admin/users", "/admin/users", username="village-agent",
                  password=PASSWORD, role="agent", site=VILLAGE)
    assert added.status_code == 303
    assert _change(admin, "village-agent", change="disable").status_code == 303
    assert _change(admin, "mz-desk", change="disable").status_code == 303  # the hub's own

    copies = _account_items_toward(hub, TOWNSHIP)
    assert [(c["username"], c["active"], c["revision"]) for c in copies] == [
        ("village-agent", True, 1), ("village-agent", False, 2)]
    assert all(c["site"] == VILLAGE and c["password_hash"].startswith("$argon2id$")
               for c in copies)
    assert all("totp_secret" not in c for c in copies)
    with app_session(hub.app) as session:
        actors = set(session.scalars(select(sync_store.SyncEvent.actor).where(
            sync_store.SyncEvent.type == "account_state")))
    assert actors == {"admin:city-admin"}


# -- releases -------------------------------------------------------------------------------


def _upload(client: FlaskClient, file: tuple[BytesIO, str], **fields: str) -> TestResponse:
    page = client.get("/admin/releases").get_data(as_text=True)
    return client.post("/admin/releases", data={"csrf_token": _token(page), "file": file,
                                                **fields},
                       content_type="multipart/form-data")


def test_the_releases_page_publishes_a_catalogue_and_lists_it(hub: Hub) -> None:
    admin = hub.login("city-admin")
    _add_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    empty = admin.get("/admin/releases").get_data(as_text=True)
    assert "尚未发布" in empty and 'id="form-catalogue"' in empty
    response = _upload(admin, _catalogue_upload(2))
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

    future = _upload(admin, _catalogue_upload(3), effective_from="2027-01-01")
    assert future.status_code == 303
    later = admin.get("/admin/releases").get_data(as_text=True)
    assert re.search(r'<tr id="r-catalogue-3">.*?待生效.*?2027-01-01 00:00', later, re.S)
    assert 'id="in-force-catalogue">2<' in later


def test_an_invalid_catalogue_lists_its_problems_and_publishes_nothing(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = _upload(admin, _catalogue_upload(2, break_it=True))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    problems = re.findall(r"<li>(.*?)</li>", _problems(page))
    assert len(problems) >= 2
    assert any("NOPE" in p for p in problems)
    assert any("999" in p or "promised_days" in p for p in problems)
    assert _count(hub.app, HubRelease) == 0

    wrong_kind = _upload(admin, _catalogue_upload(2, name="catalogue.txt"))
    assert wrong_kind.status_code == 400
    assert "suffix must be .yaml, .yml or .json" in _problems(wrong_kind.get_data(as_text=True))
    assert _upload(admin, _catalogue_upload(1)).status_code == 303  # the first one is fine
    again = _upload(admin, _catalogue_upload(1))
    assert again.status_code == 409
    assert "is not above 1" in _problems(again.get_data(as_text=True))
    past = _upload(admin, _catalogue_upload(2), effective_from="2026-01-01")
    assert past.status_code == 400
    assert "cannot take effect in the past" in _problems(past.get_data(as_text=True))
    assert _count(hub.app, HubRelease) == 1


# -- the public calendar --------------------------------------------------------------------


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
