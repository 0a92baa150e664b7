"""The web security policy (:mod:`shared.web.security_policy`) on the real hub and node apps.

The walk: every page of the hub and of a village that shows a POST form is opened by a
signed-in user of the role that sees it (the login form by a stranger); every POST form found
there must carry the session's token; each is sent without the token and with a wrong one
(refused with 400, the database and the scans untouched, the user still signed in) and then
with it (the view runs and succeeds). Every HTML POST route of each app must be the target of
some form the walk found, so a new form that the walk does not reach fails here.

Then the rest of the policy: the session cookie's name and attributes, a new session at
sign-in, the idle and absolute timeouts on the app's clock, the headers, two sites on one
host, and the JSON API and the exchange that need no form token.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from node.app import create_app as create_node
from node.db_session import app_session as node_session
from shared.domain.application import query_verifier
from shared.storage.accounts import add_user
from shared.web import security_policy
from shared.web.security_policy import CONTENT_SECURITY_POLICY, add_form_tokens
from tests.hub.admin.conftest import catalogue_upload
from tests.hub.conftest import (
    HUB,
    PASSWORD,
    WINDOW,
    Hub,
    make_hub,  # noqa: F401  (the fixture, for this package)
    register_at_hub,
)
from tests.hub.online_hall_fixtures import applicant_client, online_case_awaiting_supplement
from tests.node.conftest import PNG, SITE, Clock, case_body, init_node, node_services
from tests.node.test_case_pages import _decide
from tests.shared.web.form_client import FormClient, token_on

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai
REFUSED = "表单已过期"
ACCEPTED = {200, 201, 302, 303}
MAX_FORMS = 40


# -- reading forms as a browser does --------------------------------------------------------


@dataclass
class Form:
    """One ``<form method=post>`` of a page: where it goes and what it would send."""

    action: str
    key: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    selects: dict[str, str] = field(default_factory=dict)

    def token(self) -> str | None:
        sent = [value for name, value in self.fields if name == "csrf_token"]
        return sent[0] if sent else None


class _FormReader(HTMLParser):
    """Every POST form of a page with the values a browser would submit untouched."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                action = a.get("action") or self.page_path
                same = sum(1 for f in self.forms if f.action == action)
                self._form = Form(action, f"{action}#{a.get('id', same)}")
                self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a or (kind == "radio" and name not in dict(form.fields)):
                    form.fields = [f for f in form.fields if f[0] != name or kind == "checkbox"]
                    form.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select is not None:
            if self._select not in form.selects or "selected" in a:
                form.selects[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form.fields[-1] = (self._textarea, data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            if self._form is not None:
                self._form.fields.extend(self._form.selects.items())
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def post_forms(page: str, page_path: str) -> list[Form]:
    reader = _FormReader(page_path)
    reader.feed(page)
    assert len(reader.forms) <= MAX_FORMS
    return reader.forms


# -- what "nothing changed" means -----------------------------------------------------------


def fingerprint(database: Path, blobs: Path) -> str:
    """Every row of the site's database and the names of its stored scans (but the audit
    log of record views, which the walk's page fetches add to: a refused form writes none)."""
    digest = hashlib.sha256()
    with sqlite3.connect(database) as conn:
        for line in conn.iterdump():
            if not line.startswith('INSERT INTO "record_views"'):
                digest.update(line.encode())
    conn.close()
    if blobs.exists():
        for path in sorted(blobs.rglob("*")):
            digest.update(str(path).encode())
    return digest.hexdigest()


# -- the walk -------------------------------------------------------------------------------


@dataclass
class Site:
    """An app to walk: who opens which page, how a user signs in, and good field values for
    each form (by the endpoint it posts to)."""

    app: Flask
    database: Path
    blobs: Path
    sign_in: Callable[[str | None], FormClient]
    pages: list[tuple[str | None, str]]
    good: Callable[[str, Form], dict[str, Any]]


def html_post_endpoints(app: Flask) -> set[str]:
    """Every endpoint of ``app`` that takes a POST outside ``/api/``: the HTML forms' targets."""
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if "POST" in (rule.methods or set()) and not rule.rule.startswith("/api/")}


def endpoint_of(app: Flask, action: str) -> str:
    path = action.split("?", 1)[0]
    endpoint, _ = app.url_map.bind("localhost").match(path, method="POST")
    return str(endpoint)


def _send(client: FormClient, form: Form, data: dict[str, Any],
          token: str | None) -> TestResponse:
    body: dict[str, Any] = {k: v for k, v in data.items() if k != "csrf_token"}
    if token is not None:
        body["csrf_token"] = token
    files = any(isinstance(v, tuple) for v in body.values())
    return client.post(form.action, data=body, token=False,
                       content_type="multipart/form-data" if files else None)


def _signed_in_still(client: FormClient, user: str | None, page: str) -> None:
    if user is None:
        return
    response = client.get(page)
    assert response.status_code == 200, f"{user} was signed out by a refused form"


def walk(site: Site) -> set[str]:
    """Walk every page of ``site``; the endpoints its POST forms reached."""
    reached: set[str] = set()
    for user, page_path in site.pages:
        client = site.sign_in(user)
        page = client.get(page_path)
        assert page.status_code == 200, (user, page_path, page.status_code)
        keys = [form.key for form in post_forms(page.get_data(as_text=True), page_path)]
        assert keys, f"{page_path} shows no POST form"
        for key in keys:
            client = site.sign_in(user)  # a fresh session: forms that sign out stay apart
            shown = client.get(page_path).get_data(as_text=True)
            found = [f for f in post_forms(shown, page_path) if f.key == key]
            assert found, f"{key} is gone from {page_path}"
            form = found[0]
            endpoint = endpoint_of(site.app, form.action)
            token = form.token()
            assert token, f"{key} on {page_path} carries no form token"
            assert token == token_on(shown)
            before = fingerprint(site.database, site.blobs)
            for sent in (None, "forged-" + token[:8], ""):
                data = {**dict(form.fields), **site.good(endpoint, form)}
                refused = _send(client, form, data, sent)
                assert refused.status_code == 400, (key, sent, refused.status_code)
                assert REFUSED in refused.get_data(as_text=True)
                assert fingerprint(site.database, site.blobs) == before, (key, sent)
                _signed_in_still(client, user, page_path)
            data = {**dict(form.fields), **site.good(endpoint, form)}
            accepted = _send(client, form, data, token)
            assert accepted.status_code in ACCEPTED, (
                key, accepted.status_code, accepted.get_data(as_text=True)[:2000])
            reached.add(endpoint)
    return reached


# -- the hub --------------------------------------------------------------------------------


HUB_USERS = [("city-admin", "admin", None), ("city-lead", "supervisor", None),
             ("mz-desk", "window_operator", WINDOW), ("mz-review", "window_operator", WINDOW),
             ("ga-desk", "window_operator", "W-GA-01")]
APPLICANT = "online-applicant"
"""An applicant signed in to the online hall (网上服务大厅), not a staff account."""


@pytest.fixture
def hub_site(
        make_hub: Callable[[datetime, list[tuple[str, str, str | None]]], Hub],  # noqa: F811
) -> Site:
    hub = make_hub(NOW, HUB_USERS)
    case_id, _ = register_at_hub(hub)
    _, rated_no = _issued_case(hub, 2)  # rated online with its pair (shared.web.online_rating)
    at_window, _ = _issued_case(hub, 3)  # rated on the window's tablet page (rating_pages)
    account_id, online_case = online_case_awaiting_supplement(hub, "ga-desk")
    data_dir = hub.services.settings.data_dir
    booking = _hall_booking(hub)  # cancelled through the hall's cancel form

    def sign_in(user: str | None) -> FormClient:
        if user is None:
            client: FormClient = hub.app.test_client()  # type: ignore[assignment]
            return client
        if user == APPLICANT:
            return applicant_client(hub, account_id)  # type: ignore[return-value]
        return hub.login(user)  # type: ignore[return-value]

    def good(endpoint: str, form: Form) -> dict[str, Any]:
        if endpoint == "auth.login_submit":
            return {"username": "mz-review", "password": PASSWORD}
        if endpoint == "online_rating.rate_page":
            return {"acceptance_no": rated_no, "query_code": RATING_CODE, "rating": "satisfied"}
        if endpoint == "rating.submit":
            return {"rating": "satisfied"}
        if endpoint == "online_hall.sign_up":  # a code is texted (another phone each time)
            return {"applicant.kind": "person", "applicant.name": "李四",
                    "applicant.id_number": "11010519491231002X",
                    "applicant.phone": f"1360000{uuid.uuid4().int % 10000:04d}"}
        if endpoint == "online_hall.sign_in":
            return {"phone": f"1370000{uuid.uuid4().int % 10000:04d}"}
        if endpoint == "online_hall.apply_submit":
            return {"form.purpose": "tourism", "action": "check"}
        if endpoint == "online_hall.one_form_submit":
            return {"form.residence_address": "北湖区人民路 18 号", "action": "check"}
        if endpoint == "online_hall.supplement":
            return {"file.PHOTO": (io.BytesIO(PNG + uuid.uuid4().bytes), "photo.png")}
        if endpoint in ("consultations.online_page", "consultations.staff_page"):
            return {"kind": "consultation", "name": "王五", "phone": "13800138000",
                    "text": "办理时间是什么时候", "department": "MZ"}
        if endpoint == "admin.add_site_form":
            return {"code": f"4310020{uuid.uuid4().int % 90 + 10}", "name": "新镇",
                    "tier": "township", "parent": HUB}
        if endpoint in ("admin.reenrol_form", "admin.move_form"):
            return {"site": "431002001", "parent": HUB}
        if endpoint == "admin.add_user_form":
            return {"username": f"u-{uuid.uuid4().hex[:6]}", "password": PASSWORD,
                    "role": "agent", "site": HUB, "window": ""}
        if endpoint == "admin.change_user_form":
            return {"password": "another horse battery"}
        if endpoint == "admin.upload_catalogue":
            return {"file": catalogue_upload(2)}
        if endpoint == "windows.reassign":
            return {"from": "mz-desk", "to": "mz-review", "reason": "病假"}
        if endpoint == "hall.book":  # the slot's own fields come with the form
            return {"name": "王五", "phone": "13800138001"}
        if endpoint == "hall.cancel":
            return {"code": booking, "phone": "13800138002"}
        if endpoint == "hall.take":
            return {"area": "A"}
        if endpoint == "hall.call":
            return {"action": "next"}
        if endpoint == "desk.submit":  # a walk-in registered on the desk's page
            return {"applicant.name": "李四", "applicant.id_number": "11010519491231002X",
                    "applicant.phone": "13800138000", "form.org_name": "郴州市摄影家协会",
                    "form.registered_funds": "30000", "form.member_count": "60",
                    "form.business_scope": "摄影交流与培训"}
        return {}

    client = hub.login("city-admin")
    added = client.post("/admin/sites", data={"code": "431002001", "name": "栖凤渡镇",
                                              "tier": "township", "parent": HUB})
    assert added.status_code == 201
    return Site(
        app=hub.app, database=data_dir / "hub.sqlite", blobs=data_dir / "blobs",
        sign_in=sign_in, good=good,
        pages=[(None, "/login"), ("city-admin", "/admin/sites"),
               ("city-admin", "/admin/users"), ("city-admin", "/admin/users/mz-desk"),
               ("city-admin", "/admin/releases"), ("city-lead", f"/windows/{WINDOW}"),
               ("mz-review", f"/windows/cases/{case_id}"),
               (None, f"/rate?acceptance_no={rated_no}"),
               ("mz-review", f"/windows/rate/{at_window}"), (None, "/consult"),
               ("city-lead", "/consultations"), (None, "/online/signup"),
               (None, "/online/signin"), (APPLICANT, "/online"),
               (APPLICANT, "/online/apply/GA-3101"), (APPLICANT, f"/online/cases/{online_case}"),
               (APPLICANT, "/online/one/YJS-0003"),
               (None, f"/hall/book?target={WINDOW}&date=2025-03-04"), (None, "/hall/cancel"),
               (None, "/hall/kiosk"), ("mz-review", f"/hall/call/{WINDOW}"),
               ("mz-review", "/desk/register/MZ-0520")],
    )


def _hall_booking(hub: Hub) -> str:
    """A booking of the window's first slot tomorrow; its code."""
    from hub import hall_queue, hall_site

    with hub.app.test_request_context():
        services = hub.services
        wanted = hall_queue.BookingRequest(
            WINDOW, hall_queue.parse_slot("2025-03-04", "09:00"), "赵六", "13800138002")
        booked = hall_site.in_transaction(lambda session: hall_queue.book(
            session, hall_site.config(), hall_site.areas(), services.calendar, wanted,
            services.clock()))
        return str(booked.code)


RATING_CODE = "ABCD2345"


def _issued_case(hub: Hub, number: int) -> tuple[uuid.UUID, str]:
    """Another case at the hub, decided and its result issued, whose query code is known."""
    case_id = uuid.uuid4()
    case_id, acceptance_no = register_at_hub(
        hub, number, case_id=case_id, query_verifier=query_verifier(case_id, RATING_CODE))
    client = hub.app.test_client()
    for who, action in (("mz-desk", "claim"), ("mz-desk", "accept"), ("mz-desk", "approve"),
                        ("mz-review", "claim"), ("mz-review", "check"),
                        ("mz-review", "issue_result")):
        done = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": action},
                           headers=hub.bearer(who))
        assert done.status_code == 200, done.get_json()
    return case_id, acceptance_no


def test_every_post_form_of_the_hub_carries_the_token_and_is_refused_without_it(
        hub_site: Site) -> None:
    assert walk(hub_site) == html_post_endpoints(hub_site.app)


# -- a village ------------------------------------------------------------------------------


@pytest.fixture
def village_site(tmp_path: Path) -> Iterator[Site]:
    """An enrolled village (it has a parent, so every page needs its agent signed in) with a
    decided case that has a scan and waits for hand-over and rating."""
    settings = init_node(tmp_path / "village")
    app = create_node(settings)
    app.test_client_class = FormClient
    clock = Clock(NOW)
    node = node_services(app)
    node.clock = clock
    node.sync_site.parent = "431002001"
    node.sync_site.parent_url = "http://10.8.0.1:8100"
    with node_session(app) as session:
        add_user(session, username="v-agent", password=PASSWORD, role="agent", site=SITE,
                 now=NOW)
        session.commit()

    def sign_in(user: str | None) -> FormClient:
        client: FormClient = app.test_client()  # type: ignore[assignment]
        if user is not None:
            done = client.post("/login", data={"username": user, "password": PASSWORD})
            assert done.status_code == 302, done.get_data(as_text=True)
        return client

    agent = sign_in("v-agent")
    created = agent.post("/api/v1/cases", json=case_body(), headers={"Idempotency-Key": "w-1"})
    assert created.status_code == 201, created.get_data(as_text=True)
    case_id = created.get_json()["case_id"]
    _decide(app, case_id, clock)
    scan = agent.post(f"/cases/{case_id}/materials", content_type="multipart/form-data",
                      data={"material_code": "ID_CARD", "file": (io.BytesIO(PNG), "id.png")})
    assert scan.status_code == 303, scan.get_data(as_text=True)

    def good(endpoint: str, form: Form) -> dict[str, Any]:
        if endpoint == "auth.login_submit":
            return {"username": "v-agent", "password": PASSWORD}
        if endpoint == "intake.submit":
            body = case_body()
            fields = {f"applicant.{k}": v for k, v in body["applicant"].items()}
            fields.update({f"form.{k}": v for k, v in body["form"].items()})
            return {**fields, "delivery": "village"}
        if endpoint == "one_form.submit":  # 一表制: residence permit and employment
            fields = {f"applicant.{k}": v for k, v in case_body()["applicant"].items()}
            return {**fields, "form.residence_address": "北湖区人民路 18 号",
                    "form.residence_since": "2024-06-01", "form.employment_status": "flexible",
                    "delivery": "village"}
        if endpoint == "cases.add_material_form":
            return {"file": (io.BytesIO(PNG + uuid.uuid4().bytes), "scan.png")}
        if endpoint == "cases.transfer":
            return {"destination": "华塘镇便民服务中心"}
        if endpoint == "consultations.record_page":
            return {"channel": "window", "kind": "complaint", "name": "王五",
                    "phone": "13800138000", "text": "投诉窗口无人", "department": "MZ"}
        return {}

    yield Site(
        app=app, database=settings.data_dir / "node.sqlite", blobs=settings.blob_dir,
        sign_in=sign_in, good=good,
        pages=[(None, "/login"), ("v-agent", "/intake/MZ-0305"),
               ("v-agent", f"/cases/{case_id}"), ("v-agent", "/transfer"),
               ("v-agent", "/sync"), ("v-agent", "/consultations/new"),
               ("v-agent", "/intake/one/YJS-0003")],
    )


def test_every_post_form_of_a_village_carries_the_token_and_is_refused_without_it(
        village_site: Site) -> None:
    assert walk(village_site) == html_post_endpoints(village_site.app)


@pytest.fixture
def township_site(tmp_path: Path) -> Site:
    """An enrolled township with a complaint recorded at its desk for civil affairs, which
    has a window here: its operator's consultations page shows the answer form."""
    settings = replace(init_node(tmp_path / "township-walk", site_code="431002001"),
                       tier="township")
    app = create_node(settings)
    app.test_client_class = FormClient
    node = node_services(app)
    node.clock = Clock(NOW)
    node.sync_site.parent = "431002"
    with node_session(app) as session:
        add_user(session, username="t-desk", password=PASSWORD, role="agent",
                 site="431002001", now=NOW)
        add_user(session, username="t-mz", password=PASSWORD, role="window_operator",
                 site="431002001", window="W-MZ-11", department="MZ", now=NOW)
        session.commit()

    def sign_in(user: str | None) -> FormClient:
        client: FormClient = app.test_client()  # type: ignore[assignment]
        if user is not None:
            done = client.post("/login", data={"username": user, "password": PASSWORD})
            assert done.status_code == 302, done.get_data(as_text=True)
        return client

    recorded = sign_in("t-desk").post("/api/v1/consultations", json={
        "channel": "window", "kind": "complaint", "name": "王五", "phone": "13800138000",
        "text": "救助申请一个月没消息", "item_code": "MZ-0305"})
    assert recorded.status_code == 201, recorded.get_data(as_text=True)

    def good(endpoint: str, form: Form) -> dict[str, Any]:
        if endpoint == "consultation_desk.answer_page":
            return {"answer": "已核实,本周内办结并电话告知"}
        return {}

    return Site(app=app, database=settings.data_dir / "node.sqlite", blobs=settings.blob_dir,
                sign_in=sign_in, good=good, pages=[("t-mz", "/consultations")])


def test_a_township_has_no_form_the_walks_do_not_reach(hub_site: Site, village_site: Site,
                                                       township_site: Site) -> None:
    """A deciding node's forms are the village's and the window desk's, the same views and
    templates the two walks above submit, and its own answer to a consultation, walked
    here."""
    township = html_post_endpoints(township_site.app)
    own = walk(township_site)
    assert "consultation_desk.answer_page" in own
    walked = html_post_endpoints(hub_site.app) | html_post_endpoints(village_site.app) | own
    assert "windows.act" in township
    assert township <= walked


def test_the_token_is_written_into_every_post_form_when_a_template_compiles() -> None:
    source = ('<form method="post" action="{{ url_for(\'x\', a=b > c) }}" id="f">'
              '<form method="get"><FORM METHOD=POST>'
              '<form method="post" {% if x %} style="a"{% endif %}>')
    assert add_form_tokens(source) == (
        '<form method="post" action="{{ url_for(\'x\', a=b > c) }}" id="f">'
        "{{ csrf_field() }}"
        '<form method="get"><FORM METHOD=POST>{{ csrf_field() }}'
        '<form method="post" {% if x %} style="a"{% endif %}>{{ csrf_field() }}')


# -- the session cookie ---------------------------------------------------------------------


def _cookie(response: TestResponse, name: str) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[0]


def test_the_session_cookie_is_named_after_the_site_httponly_lax_and_secure_under_tls(
        village_site: Site) -> None:
    client = village_site.app.test_client()
    plain = _cookie(client.get("/login"), f"sanji_{SITE}")
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    tls = village_site.app.test_client()
    secure = _cookie(tls.get("/login", base_url="https://localhost"), f"sanji_{SITE}")
    assert "Secure" in secure and "HttpOnly" in secure


def test_behind_the_trusted_proxy_the_cookie_is_secure_when_the_proxy_speaks_tls(
        tmp_path: Path) -> None:
    settings = replace(init_node(tmp_path / "behind"), trusted_proxies=1)
    app = create_node(settings)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    behind = _cookie(app.test_client().get("/login", headers=https), f"sanji_{SITE}")
    assert "Secure" in behind
    direct = create_node(replace(settings, trusted_proxies=0)).test_client()
    assert "Secure" not in _cookie(direct.get("/login", headers=https), f"sanji_{SITE}")


def _session_cookie(client: Any, name: str) -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None
    return str(cookie.value)


def test_signing_in_starts_a_new_session_and_the_old_one_is_worth_nothing(
        village_site: Site) -> None:
    app = village_site.app
    name = f"sanji_{SITE}"
    client: FormClient = app.test_client()  # type: ignore[assignment]
    before_token = client.page_token()
    before = _session_cookie(client, name)
    signed = client.post("/login", data={"username": "v-agent", "password": PASSWORD,
                                         "csrf_token": before_token})
    assert signed.status_code == 302
    assert _session_cookie(client, name) != before
    assert client.page_token() != before_token
    assert client.get("/cases").status_code == 200
    # The token of the page before the sign-in no longer opens a form.
    stale = client.post("/sync/now", data={"csrf_token": before_token})
    assert stale.status_code == 400
    # The cookie from before the sign-in (planted, or seen on the wire) signs nobody in.
    planted: FormClient = app.test_client()  # type: ignore[assignment]
    planted.set_cookie(name, before)
    assert planted.get("/cases").status_code == 302


def test_signing_out_ends_the_session(village_site: Site) -> None:
    client = village_site.sign_in("v-agent")
    assert client.post("/logout").status_code == 302
    assert client.get("/cases").status_code == 302


def test_a_sign_in_ends_after_the_idle_time_and_after_the_longest_time(
        village_site: Site) -> None:
    node = node_services(village_site.app)
    clock: Clock = node.clock  # type: ignore[assignment]
    limits = security_policy.SessionTimeouts()
    client = village_site.sign_in("v-agent")
    clock.advance(seconds=limits.idle_seconds - 60)
    assert client.get("/cases").status_code == 200  # a request keeps the sign-in alive
    clock.advance(seconds=limits.idle_seconds - 60)
    assert client.get("/cases").status_code == 200
    clock.advance(seconds=limits.idle_seconds + 1)
    idle = client.get("/cases")
    assert idle.status_code == 302 and idle.headers["Location"].startswith("/login")

    busy = village_site.sign_in("v-agent")
    started = clock.now
    steps = 0
    while clock.now - started < timedelta(seconds=limits.max_seconds - 600) and steps < 100:
        clock.advance(seconds=600)
        assert busy.get("/cases").status_code == 200
        steps += 1
    clock.advance(seconds=1200)
    assert busy.get("/cases").status_code == 302  # eight hours on, however busy


def test_the_timeouts_are_settings_with_safe_defaults(tmp_path: Path) -> None:
    settings = init_node(tmp_path / "n")
    assert (settings.session_idle_seconds, settings.session_max_seconds) == (1800, 28800)
    with pytest.raises(Exception, match="session_idle_seconds"):
        replace(settings, session_idle_seconds=0)
    with pytest.raises(Exception, match="session_idle_seconds"):
        replace(settings, session_idle_seconds=30000)


def test_two_sites_on_one_host_keep_their_own_sessions(hub_site: Site,
                                                       village_site: Site) -> None:
    """A browser keeps one cookie jar per host, whatever the port: each site's cookie must
    survive the other's."""
    hub_name = hub_site.app.config["SESSION_COOKIE_NAME"]
    village_name = village_site.app.config["SESSION_COOKIE_NAME"]
    at_hub = hub_site.sign_in("mz-review")
    at_village = village_site.sign_in("v-agent")
    hub_cookie = _session_cookie(at_hub, hub_name)
    village_cookie = _session_cookie(at_village, village_name)
    at_hub.set_cookie(village_name, village_cookie)  # the village's answer reaches the jar
    at_village.set_cookie(hub_name, hub_cookie)
    assert at_hub.get(f"/windows/{WINDOW}").status_code == 200
    assert at_village.get("/cases").status_code == 200
    assert (hub_name, village_name) == (f"sanji_{HUB}", f"sanji_{SITE}")


# -- headers --------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(village_site: Site) -> None:
    client = village_site.sign_in("v-agent")
    page = client.get("/cases")
    api = client.get("/api/v1/catalog/items")
    for response in (page, api, client.get("/healthz")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    # a frame between sites is read by the sync glue only: no header costs the slow line
    frame = client.post("/api/v1/sync/exchange", data=b"\x00" * 64,
                        content_type="application/vnd.sanji.frame")
    assert frame.status_code in (400, 503)
    if frame.mimetype == "application/vnd.sanji.frame":
        assert not {"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                    "Content-Security-Policy"} & set(frame.headers.keys())
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "<script" not in page.get_data(as_text=True)
    # no CORS: a page of another origin may not read any answer, even when it asks
    asked = client.get("/api/v1/catalog/items", headers={"Origin": "https://elsewhere.example"})
    for response in (page, api, asked):
        assert not [k for k, _ in response.headers.items() if k.startswith("Access-Control-")]


# -- what needs no form token ---------------------------------------------------------------


def test_programs_with_a_bearer_token_or_json_need_no_form_token(village_site: Site) -> None:
    app = village_site.app
    program = app.test_client()
    token = program.post("/api/v1/auth/token",
                         json={"username": "v-agent", "password": PASSWORD})
    assert token.status_code == 200
    bearer = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    created = program.post("/api/v1/cases", json=case_body(),
                           headers={**bearer, "Idempotency-Key": "api-1"})
    assert created.status_code == 201
    case_id = created.get_json()["case_id"]
    scan = program.post(f"/api/v1/cases/{case_id}/materials", headers=bearer,
                        data={"material_code": "ID_CARD", "file": (io.BytesIO(PNG), "a.png")})
    assert scan.status_code == 201, scan.get_data(as_text=True)
    # The same upload with the browser's cookie alone could come from another site's page.
    browser: FormClient = village_site.sign_in("v-agent")
    before = fingerprint(village_site.database, village_site.blobs)
    forged = browser.post(f"/api/v1/cases/{case_id}/materials", token=False,
                          data={"material_code": "ID_CARD",
                                "file": (io.BytesIO(PNG + b"x"), "b.png")})
    assert forged.status_code == 400
    assert forged.get_json()["error"]["code"] == "csrf_failed"
    assert set(forged.get_json()["error"]) == {"code", "message", "fields"}
    assert fingerprint(village_site.database, village_site.blobs) == before
    # JSON with the cookie: a browser cannot send it from another site without asking.
    json_post = browser.post("/api/v1/cases", json=case_body(),
                             headers={"Idempotency-Key": "api-2"})
    assert json_post.status_code == 201


def test_the_exchange_between_sites_is_not_a_form(village_site: Site) -> None:
    answer = village_site.app.test_client().post(
        "/api/v1/sync/exchange", data=b"\x00not a frame",
        content_type="application/x-www-form-urlencoded")
    assert answer.status_code != 400 or answer.get_json()["error"]["code"] != "csrf_failed"
