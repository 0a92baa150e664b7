"""The city centre's registration pages (hub.desk_views) through the Flask client on a real
hub data directory: a good registration makes exactly one case, whose ``registered`` event
is the hub's own and routed to the item's window, with the scans kept; bad fields are named
on the page and nothing is written; a double submit makes one case; roles other than the
desk's and the window's operators are refused; a registration opened from the calling page
links its ticket to the new case in the same transaction."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from hub.db_session import app_session
from hub.hall_models import HubHallTicket
from hub.models import HubCase
from shared.deciding import case_work
from shared.storage.sync_store import SyncEvent
from tests.hub.conftest import HUB, ID_NUMBER, ITEM, WINDOW, Hub, User, hub_maker
from tests.integration.test_three_tiers import FORM
from tests.node.conftest import PNG

NOW = datetime(2026, 12, 8, 1, 30, tzinfo=UTC)  # a Tuesday, 09:30 in Shanghai
USERS: Sequence[User] = [("desk", "agent", None), ("op1", "window_operator", WINDOW),
                         ("op-ga", "window_operator", "W-GA-01"), ("sup", "supervisor", None),
                         ("head", "department_head", "MZ"), ("admin", "admin", None)]
GOOD = {"applicant.kind": "person", "applicant.name": "李四",
        "applicant.id_number": ID_NUMBER, "applicant.phone": "13800138000",
        **{f"form.{k}": str(v) for k, v in FORM.items()}, "delivery": "window"}


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    made = make_hub(NOW, USERS)
    (Path(made.services.settings.data_dir) / "hall.json").write_text(json.dumps(
        {"areas": [{"code": "A", "name": "民政", "windows": [WINDOW]}]}), encoding="utf-8")
    return made


def _once_key(page: TestResponse) -> str:
    found = re.search(r'name="once_key" value="([0-9a-f]{32})"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:2000]
    return found.group(1)


def _register(client: FlaskClient, data: dict[str, Any], query: str = "",
              key: str | None = None) -> TestResponse:
    page = client.get(f"/desk/register/{ITEM}{query}")
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    assert len(page.data) < 60_000 and b"<script" not in page.data
    body = {**data, "once_key": key or _once_key(page)}
    return client.post(f"/desk/register/{ITEM}", data=body,
                       content_type="multipart/form-data")


def _cases(hub: Hub) -> list[HubCase]:
    with app_session(hub.app) as session:
        return list(session.scalars(select(HubCase)))


def _events(hub: Hub) -> int:
    with app_session(hub.app) as session:
        return int(session.scalar(select(func.count()).select_from(SyncEvent)) or 0)


def test_a_registration_on_the_page_makes_one_routed_case_and_shows_its_numbers(
        hub: Hub) -> None:
    client = hub.login("desk")
    answer = _register(client, {**GOOD, "file.APPLICATION": (io.BytesIO(PNG), "a.png")})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:3000]
    done = client.get(answer.headers["Location"])
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and len(done.data) < 60_000 and "<script" not in page
    number = page.split('id="acceptance-no"')[1].split(">")[1].split("<")[0]
    code = page.split('id="query-code"')[1].split(">")[1].split("<")[0]
    assert number == f"{HUB}-20261208-0001" and len(code) >= 8

    [case] = _cases(hub)
    assert case.acceptance_no == number and case.window == WINDOW
    site = hub.services.sync_site
    with app_session(hub.app) as session:
        events = case_work.case_events(session, site, case.case_id)
    assert [e.type for e in events][:3] == ["registered", "received", "routed"]
    registered = events[0]
    assert registered.origin == HUB
    assert (registered.actor.role, registered.actor.username) == ("agent", "desk")
    assert [m["code"] for m in registered.payload["materials"]] == ["APPLICATION"]
    assert hub.services.blobs.has(registered.payload["materials"][0]["sha256"])

    status = hub.app.test_client().get(
        f"/api/v1/public/status?acceptance_no={number}&query_code={code}")
    assert status.status_code == 200, status.get_json()
    # the result page is the registering user's only
    assert hub.login("admin").get(answer.headers["Location"]).status_code == 404


def test_bad_fields_are_named_on_the_page_and_nothing_is_written(hub: Hub) -> None:
    client = hub.login("desk")
    before = _events(hub)
    bad = {**GOOD, "applicant.id_number": "110105194912310021", "applicant.phone": "123",
           "form.member_count": "lots", "delivery": "drone",
           "file.CHARTER": (io.BytesIO(b"not a scan"), "c.txt")}
    answer = _register(client, bad)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    for field in ("applicant.id_number", "applicant.phone", "delivery", "file.CHARTER"):
        assert f'id="err-{field}"' in page, field
    assert '<div class="bad"><label for="form.member_count"' in page
    assert 'value="李四"' in page  # what was typed is kept
    assert _cases(hub) == [] and _events(hub) == before


def test_a_double_submit_registers_one_case(hub: Hub) -> None:
    client = hub.login("op1")
    page = client.get(f"/desk/register/{ITEM}")
    key = _once_key(page)
    first = client.post(f"/desk/register/{ITEM}", data={**GOOD, "once_key": key})
    second = client.post(f"/desk/register/{ITEM}", data={**GOOD, "once_key": key})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    [case] = _cases(hub)
    changed = client.post(f"/desk/register/{ITEM}",
                          data={**GOOD, "applicant.phone": "13900139000", "once_key": key})
    assert changed.status_code == 409 and len(_cases(hub)) == 1
    with app_session(hub.app) as session:
        events = case_work.case_events(session, hub.services.sync_site, case.case_id)
    assert (events[0].actor.role, events[0].actor.username) == ("window_operator", "op1")


def test_two_clicks_at_once_register_one_case(hub: Hub) -> None:
    clients = [hub.login("desk"), hub.login("desk")]
    key = _once_key(clients[0].get(f"/desk/register/{ITEM}"))
    start = threading.Barrier(2)
    answers: list[int] = []

    def one(client: FlaskClient) -> None:
        start.wait(timeout=10)
        answers.append(client.post(f"/desk/register/{ITEM}",
                                   data={**GOOD, "once_key": key}).status_code)

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [303, 303]
    assert len(_cases(hub)) == 1


@pytest.mark.parametrize(("user", "status"), [("sup", 403), ("head", 403), ("op-ga", 403)])
def test_other_roles_and_other_windows_are_refused(hub: Hub, user: str, status: int) -> None:
    client = hub.login(user)
    assert client.get(f"/desk/register/{ITEM}").status_code == status
    refused = client.post(f"/desk/register/{ITEM}", data={**GOOD, "once_key": "a" * 32})
    assert refused.status_code == status
    assert _cases(hub) == []


def test_a_stranger_is_sent_to_sign_in(hub: Hub) -> None:
    answer = hub.app.test_client().get("/desk")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_pick_page_searches_and_lists_the_operator_s_window(hub: Hub) -> None:
    desk = hub.login("desk").get("/desk?q=shtt")
    assert desk.status_code == 200 and f'data-item="{ITEM}"' in desk.get_data(as_text=True)
    operator = hub.login("op-ga").get("/desk?q=MZ-0520").get_data(as_text=True)
    assert f'data-item="{ITEM}"' not in operator  # another window's item
    own = hub.login("op1").get("/desk").get_data(as_text=True)
    assert 'id="window-items"' in own and f'data-item="{ITEM}"' in own


def test_the_calling_page_opens_the_registration_and_the_ticket_is_linked(hub: Hub) -> None:
    citizen = hub.app.test_client()
    assert citizen.post("/hall/kiosk", data={"area": "A"}).status_code == 303
    operator = hub.login("op1")
    assert operator.post(f"/hall/call/{WINDOW}", data={"action": "next"}).status_code == 303
    calling = operator.get(f"/hall/call/{WINDOW}").get_data(as_text=True)
    link = unescape(calling.split('id="open-registration"')[0].rsplit('href="', 1)[1]
                    .split('"')[0])
    assert link == f"/desk?window={WINDOW}&ticket=A001"
    picked = operator.get(link).get_data(as_text=True)
    form_link = unescape(picked.split(f'data-item="{ITEM}"')[0].rsplit('href="', 1)[1]
                         .split('"')[0])
    assert form_link == f"/desk/register/{ITEM}?window={WINDOW}&ticket=A001"
    answer = _register(operator, {**GOOD, "window": WINDOW, "ticket": "A001"},
                       query=f"?window={WINDOW}&ticket=A001")
    assert answer.status_code == 303, answer.get_data(as_text=True)[:3000]
    [case] = _cases(hub)
    with app_session(hub.app) as session:
        ticket = session.scalar(select(HubHallTicket).where(HubHallTicket.label == "A001"))
        assert ticket is not None and ticket.case_id == case.case_id
    done = operator.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="desk-linked"' in done and 'id="back-to-call"' in done
    calling = operator.get(f"/hall/call/{WINDOW}").get_data(as_text=True)
    assert f'id="linked-no">{case.acceptance_no}<' in calling


def test_a_ticket_not_called_here_is_named_and_nothing_is_written(hub: Hub) -> None:
    operator = hub.login("op1")
    answer = _register(operator, {**GOOD, "window": WINDOW, "ticket": "A009"})
    assert answer.status_code == 400 and 'id="err-ticket"' in answer.get_data(as_text=True)
    assert _cases(hub) == []
    other = operator.get(f"/desk/register/{ITEM}?window=W-GA-01&ticket=A001")
    assert other.status_code == 403


@pytest.mark.postgres
def test_two_clicks_at_once_register_one_case_on_postgresql(
        tmp_path: Path, pg_schema_url: str) -> None:
    hub = hub_maker(tmp_path, pg_schema_url)(NOW, USERS)
    test_two_clicks_at_once_register_one_case(hub)
