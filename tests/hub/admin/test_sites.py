"""The operators' map of the tree of sites (``/admin/sites``): adding a site with its one-time
enrolment code, a new code for a replaced PC, moving a site, refusals, what the map shows of
each site, and paging a large tree (and its users) under the page-size limit.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import select

from hub.admin.sites import SITE_ROWS
from hub.admin.users import USER_ROWS
from hub.db_session import app_session
from hub.models import HubCase, HubEnrolmentCode, HubSite
from shared.exchange.status import child_info_key
from shared.storage import sync_store
from shared.storage.accounts import UserAccount
from sync_protocol import generate_key
from sync_protocol.times import to_ms
from tests.hub.admin.conftest import (
    COUNTY,
    MAX_PAGE_BYTES,
    NOW,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    count_rows,
    post_form,
    problems_on,
    submit_site,
)
from tests.hub.conftest import HUB, Hub
from tests.integration.test_three_tiers import FORM


def _enrol_code(page: str) -> str:
    found = re.search(r'id="enrol-code">([^<]+)<', page)
    assert found, "no enrolment code shown"
    return found.group(1)


def _tree_rows(page: str) -> list[tuple[str, float]]:
    """The sites table's rows in order: code and indentation (em)."""
    return [(code, float(indent)) for code, indent in re.findall(
        r'<tr id="s-(\d+)"><td style="padding-left:([\d.]+)em">', page)]


def test_sites_added_through_the_form_are_shown_in_tree_order_with_the_code_once(
    hub: Hub,
) -> None:
    admin = hub.login("city-admin")
    # added out of order: a second township first, the village before its sibling township
    assert submit_site(admin, OTHER_TOWNSHIP, "华塘镇", "township", HUB).status_code == 201
    added = submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    assert added.status_code == 201
    added_page = added.get_data(as_text=True)
    code = _enrol_code(added_page)
    assert code.startswith(f"{TOWNSHIP}.")
    assert 'id="enrol-expires">2026-12-01 10:00<' in added_page  # 7 days, Shanghai time
    assert "只显示这一次" in added_page
    village = submit_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
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
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    first = _enrol_code(submit_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
                        .get_data(as_text=True))
    hub.clock.now = NOW.replace(hour=5)
    admin = hub.login("city-admin")  # three hours on, the first sign-in has timed out
    response = post_form(admin, "/admin/sites", "/admin/sites/reenrol", site=VILLAGE)
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

    unknown = post_form(admin, "/admin/sites", "/admin/sites/reenrol", site="431002001299")
    assert unknown.status_code == 404
    assert "no site 431002001299" in problems_on(unknown.get_data(as_text=True))
    itself = post_form(admin, "/admin/sites", "/admin/sites/reenrol", site=HUB)
    assert itself.status_code == 400
    assert 'id="enrol-code"' not in itself.get_data(as_text=True)


def test_moving_a_site_puts_it_under_its_new_parent(hub: Hub) -> None:
    admin = hub.login("city-admin")
    submit_site(admin, COUNTY, "北湖区", "county", HUB)
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", COUNTY)
    submit_site(admin, OTHER_TOWNSHIP, "华塘镇", "township", HUB)
    submit_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
    moved = post_form(admin, "/admin/sites", "/admin/sites/move", site=VILLAGE,
                      parent=OTHER_TOWNSHIP)
    assert moved.status_code == 303
    assert moved.headers["Location"] == f"/admin/sites?moved={VILLAGE}"
    page = admin.get(moved.headers["Location"]).get_data(as_text=True)
    assert 'id="moved"' in page
    assert [c for c, _ in _tree_rows(page)] == [HUB, COUNTY, TOWNSHIP, OTHER_TOWNSHIP, VILLAGE]
    with app_session(hub.app) as session:
        site = session.get(HubSite, VILLAGE)
        assert site is not None and site.parent == OTHER_TOWNSHIP

    under_village = post_form(admin, "/admin/sites", "/admin/sites/move", site=TOWNSHIP,
                              parent=VILLAGE)
    loop = post_form(admin, "/admin/sites", "/admin/sites/move", site=COUNTY, parent=TOWNSHIP)
    root = post_form(admin, "/admin/sites", "/admin/sites/move", site=HUB, parent=COUNTY)
    assert under_village.status_code == 400
    assert "a village has no sites below it" in problems_on(under_village.get_data(as_text=True))
    assert loop.status_code == 400 and "loop" in problems_on(loop.get_data(as_text=True))
    assert root.status_code == 400 and "root" in problems_on(root.get_data(as_text=True))
    with app_session(hub.app) as session:
        parents = dict(session.execute(select(HubSite.code, HubSite.parent)).all())
    assert parents == {HUB: None, COUNTY: HUB, TOWNSHIP: COUNTY, OTHER_TOWNSHIP: HUB,
                       VILLAGE: OTHER_TOWNSHIP}


def test_a_bad_site_form_lists_every_problem_and_adds_nothing(hub: Hub) -> None:
    admin = hub.login("city-admin")
    response = submit_site(admin, "43100x", " ", "province", "431099")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    listed = problems_on(page)
    for field, reason in (("code", "must contain only digits"), ("name", "1-80 characters"),
                          ("tier", "one of county, township, village"),
                          ("parent", "no site 431099")):
        assert f"<b>{field}</b>: " in listed and reason in listed, field
    assert 'id="enrol-code"' not in page
    assert 'value="43100x"' in page  # the form keeps what was typed
    assert count_rows(hub.app, HubSite) == 1

    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    again = submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    assert again.status_code == 400
    assert f"site {TOWNSHIP} exists already" in problems_on(again.get_data(as_text=True))


def test_the_map_shows_contact_pending_items_events_and_open_cases(hub: Hub) -> None:
    admin = hub.login("city-admin")
    submit_site(admin, TOWNSHIP, "栖凤渡镇", "township", HUB)
    submit_site(admin, VILLAGE, "石门村", "village", TOWNSHIP)
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
