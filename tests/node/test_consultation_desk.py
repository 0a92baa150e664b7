"""咨询投诉 answered at a township's own site (node.consultation_desk), through its API and
its page: the department's staff of a window here see theirs with the deadline and answer
them; another department's staff get 404; a second answer 409; a bad answer names the field
and records nothing; the answer is a signed event queued up for the hub; a village answers
nothing and its agent reads what was recorded there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from node.app import create_app
from node.cli import node_group
from node.db_session import app_session
from node.services import NodeServices
from node.settings import NodeSettings
from shared.storage.accounts import UserAccount, add_user
from shared.storage.sync_store import SyncEvent, SyncOutbox
from tests.node.conftest import Clock
from tests.shared.web.form_client import FormClient

TOWNSHIP = "431002001"
VILLAGE = "431002001201"
NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
PERSON = {"name": "王小明", "phone": "13800138000"}
PASSWORD = "correct horse x"
USERS = [("desk", "agent", None, None), ("mz-1", "window_operator", "W-MZ-11", "MZ"),
         ("mz-2", "window_operator", "W-MZ-11", "MZ"),
         ("sj-1", "window_operator", "W-SJ-11", "SJ"), ("mz-head", "department_head", None, "MZ"),
         ("lead", "supervisor", None, None)]


@dataclass
class Site:
    app: Flask
    node: NodeServices
    clock: Clock

    def bearer(self, username: str) -> dict[str, str]:
        with app_session(self.app) as session:
            user = session.scalars(select(UserAccount)
                                   .where(UserAccount.username == username)).one()
            return {"Authorization": f"Bearer {self.node.signer.issue(user, self.clock())}"}

    def count(self, model: Any, *where: Any) -> int:
        with app_session(self.app) as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where))
                       or 0)


def _site(data_dir: Path, code: str, tier: str) -> Site:
    result = CliRunner().invoke(node_group, [
        "init", "--data-dir", str(data_dir), "--site-code", code, "--name", "良田镇",
        "--tier", tier, "--public-base-url", "http://status.example"])
    assert result.exit_code == 0, result.output
    app = create_app(replace(NodeSettings.load(data_dir), testing=True))
    app.test_client_class = FormClient
    node: NodeServices = app.extensions["sanji_node"]
    clock = Clock(NOW)
    node.clock = clock
    node.sync_site.parent = "431002" if tier == "township" else TOWNSHIP  # users sign in
    with app_session(app) as session:
        for username, role, window, department in USERS:
            add_user(session, username=username, password=PASSWORD, role=role, site=code,
                     window=window, department=department, now=NOW)
        session.commit()
    return Site(app, node, clock)


@pytest.fixture
def township(tmp_path: Path) -> Iterator[Site]:
    yield _site(tmp_path / "township", TOWNSHIP, "township")


def _record(site: Site, **fields: Any) -> dict[str, Any]:
    made = site.app.test_client().post(
        "/api/v1/consultations", headers=site.bearer("desk"),
        json={"channel": "window", "kind": "complaint", **PERSON, **fields})
    assert made.status_code == 201, made.get_data(as_text=True)
    body: dict[str, Any] = made.get_json()
    return body


def _listed(site: Site, user: str, **args: str) -> list[dict[str, Any]]:
    got = site.app.test_client().get("/api/v1/consultations", query_string=args,
                                     headers=site.bearer(user))
    assert got.status_code == 200, got.get_data(as_text=True)
    found: list[dict[str, Any]] = got.get_json()["consultations"]
    return found


def test_the_departments_staff_at_the_township_answer_theirs_once(township: Site) -> None:
    mz = _record(township, item_code="MZ-0305", text="临时救助多久能批下来")
    sj = _record(township, kind="consultation", department="SJ", text="摆摊要办什么证")
    city_only = _record(township, kind="consultation", department="GA", text="户口迁移")
    assert (mz["department"], sj["department"], city_only["department"]) == ("MZ", "SJ", "GA")

    listed = _listed(township, "mz-1")
    assert [(c["id"], c["kind"], c["department"], c["origin"], c["status"], c["due"])
            for c in listed] == [(mz["id"], "complaint", "MZ", TOWNSHIP, "open", mz["due"])]
    assert [c["id"] for c in _listed(township, "sj-1")] == [sj["id"]]
    assert [c["id"] for c in _listed(township, "mz-head")] == [mz["id"]]
    # the supervisor reads every one here; the city-only department's is read, never answered
    assert {c["id"] for c in _listed(township, "lead")} == {mz["id"], sj["id"],
                                                            city_only["id"]}
    client = township.app.test_client()
    shown = client.get(f"/api/v1/consultations/{mz['id']}", headers=township.bearer("mz-1"))
    assert shown.status_code == 200
    assert (shown.get_json()["text"], shown.get_json()["name"]) == ("临时救助多久能批下来",
                                                                    "王小明")

    # another department's staff: as if it did not exist
    url = f"/api/v1/consultations/{mz['id']}/answer"
    for stranger in ("sj-1",):
        refused = client.post(url, json={"answer": "不归我们管的事"},
                              headers=township.bearer(stranger))
        assert refused.status_code == 404
        assert client.get(f"/api/v1/consultations/{mz['id']}",
                          headers=township.bearer(stranger)).status_code == 404
    ga = client.post(f"/api/v1/consultations/{city_only['id']}/answer",
                     json={"answer": "请到市民中心公安窗口办理"}, headers=township.bearer("lead"))
    assert ga.status_code == 403  # a supervisor reads, never answers

    events_before = township.count(SyncEvent)
    bad = client.post(url, json={"answer": "  好 "}, headers=township.bearer("mz-1"))
    assert bad.status_code == 400 and set(bad.get_json()["error"]["fields"]) == {"answer"}
    empty = client.post(url, json={}, headers=township.bearer("mz-1"))
    assert empty.status_code == 400 and "answer" in empty.get_json()["error"]["fields"]
    assert township.count(SyncEvent) == events_before  # nothing half-written

    township.clock.advance(hours=2)
    answered = client.post(url, json={"answer": "已受理,3个工作日内办结"},
                           headers=township.bearer("mz-1"))
    assert answered.status_code == 200, answered.get_data(as_text=True)
    body = answered.get_json()
    assert (body["id"], body["status"], body["answered_by"]) == (
        mz["id"], "answered", "window_operator:mz-1")
    # a signed event of this site, waiting to go up to the hub
    assert township.count(SyncEvent, SyncEvent.type == "consultation_answered",
                          SyncEvent.origin == TOWNSHIP) == 1
    assert township.count(SyncOutbox, SyncOutbox.event_id.in_(
        select(SyncEvent.id).where(SyncEvent.type == "consultation_answered"))) == 1

    again = client.post(url, json={"answer": "再答复一次试试看"},
                        headers=township.bearer("mz-head"))
    assert again.status_code == 409
    assert township.count(SyncEvent, SyncEvent.type == "consultation_answered") == 1
    assert [c["id"] for c in _listed(township, "mz-head", status="answered")] == [mz["id"]]
    assert _listed(township, "mz-head", status="open") == []
    detail = client.get(f"/api/v1/consultations/{mz['id']}", headers=township.bearer("desk"))
    assert detail.get_json()["answer"] == "已受理,3个工作日内办结"  # the desk tells the person
    wrong = client.get("/api/v1/consultations?status=late", headers=township.bearer("mz-1"))
    assert wrong.status_code == 400 and "status" in wrong.get_json()["error"]["fields"]


def _sign_in(site: Site, username: str) -> FormClient:
    client: FormClient = site.app.test_client()  # type: ignore[assignment]
    done = client.post("/login", data={"username": username, "password": PASSWORD})
    assert done.status_code == 302, done.get_data(as_text=True)
    return client


def test_the_page_marks_the_overdue_and_answers_with_the_form(township: Site) -> None:
    late = _record(township, kind="consultation", item_code="MZ-0305", text="救助金怎么发")
    township.clock.advance(days=10)  # past five working days
    fresh = _record(township, item_code="MZ-0305", text="窗口没人")
    operator = _sign_in(township, "mz-1")
    page = operator.get("/consultations")
    assert page.status_code == 200 and len(page.data) < 60_000
    html = page.get_data(as_text=True)
    assert "<script" not in html
    assert f'<tr id="c-{late["id"]}" class="late">' in html and "已超期" in html
    assert f'<tr id="c-{fresh["id"]}">' in html
    assert f'id="answer-{late["id"]}"' in html and f'id="answer-{fresh["id"]}"' in html

    short = operator.post(f"/consultations/{late['id']}/answer", data={"answer": "好"})
    assert short.status_code == 400
    assert 'id="problems"' in short.get_data(as_text=True)
    assert "answer:" in short.get_data(as_text=True)
    done = operator.post(f"/consultations/{late['id']}/answer",
                         data={"answer": "每月10日前发放到一卡通"})
    assert done.status_code == 303
    after = operator.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="cons-answered"' in after and "每月10日前发放到一卡通" in after
    assert f'id="answer-{late["id"]}"' not in after  # answered, late: still marked
    assert f'<tr id="c-{late["id"]}" class="late">' in after
    twice = operator.post(f"/consultations/{late['id']}/answer", data={"answer": "再说一遍的答复"})
    assert twice.status_code == 409

    other = _sign_in(township, "sj-1")
    assert fresh["id"] not in other.get("/consultations").get_data(as_text=True)
    refused = other.post(f"/consultations/{fresh['id']}/answer", data={"answer": "不是本部门"})
    assert refused.status_code == 404


def test_a_village_answers_nothing_and_its_agent_reads_what_was_recorded_there(
        tmp_path: Path) -> None:
    village = _site(tmp_path / "village", VILLAGE, "village")
    recorded = _record(village, item_code="MZ-0305", text="救助要带什么材料")
    client = village.app.test_client()
    assert [c["id"] for c in _listed(village, "desk")] == [recorded["id"]]
    answer = client.post(f"/api/v1/consultations/{recorded['id']}/answer",
                         json={"answer": "带身份证户口本"}, headers=village.bearer("mz-1"))
    assert answer.status_code in (404, 405)  # no windows here, no answering
    page = _sign_in(village, "desk").get("/consultations").get_data(as_text=True)
    assert f'id="c-{recorded["id"]}"' in page and "<form method=\"post\" action=\"/consultations/" \
        not in page
    assert _listed(village, "desk", status="answered") == []
    assert timedelta(0) < datetime.fromisoformat(recorded["due"]) - NOW
