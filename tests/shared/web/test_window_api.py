"""The JSON window API (:mod:`shared.web.window_api`) on its own, on SQLite and PostgreSQL.

A minimal Flask app is built here from the blueprint factories alone (the window API, the
sign-in blueprint and the JSON error handlers) over a deciding site's real
:class:`~shared.deciding.window_context.WindowContext`: the projection store, the sample
catalogue, the working-day calendar and a clock the test moves. Cases arrive signed by a
village through the site's sync hook, as they do at the hub.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from shared.storage.accounts import TokenSigner, UserAccount, set_active
from shared.web import error_responses
from shared.web.sign_in import auth_blueprint
from shared.web.window_api import window_blueprint
from tests.shared.deciding.test_bulk_reassign import retired
from tests.shared.deciding.test_case_projection import Desk
from tests.shared.deciding.test_case_work import (
    CALENDAR,
    CITY,
    CITY_WINDOW,
    COUNTY_ITEM,
    COUNTY_WINDOW,
    NOW,
    PASSWORD,
    TOWNSHIP,
    VILLAGE,
)

REVIEW, CHECK, THIRD = "mz-review", "mz-check", "mz-third"
STAFF = [(REVIEW, "window_operator", CITY_WINDOW), (CHECK, "window_operator", CITY_WINDOW),
         (THIRD, "window_operator", CITY_WINDOW),
         ("ny-desk", "window_operator", "W-NY-01"),
         ("mz-cashier", "finance", CITY_WINDOW), ("ny-cashier", "finance", "W-NY-01"),
         ("sj-desk", "window_operator", "W-SJ-01"), ("ga-desk", "window_operator", "W-GA-01"),
         ("mz02-a", "window_operator", COUNTY_WINDOW),
         ("mz02-b", "window_operator", COUNTY_WINDOW),
         ("front-desk", "agent", None), ("city-lead", "supervisor", None),
         ("city-admin", "admin", None)]
ERROR_KEYS = {"code", "message", "fields"}


class Api:
    """The window API of one deciding site, served by a Flask app of its own."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.signer = TokenSigner(b"a secret of thirty-two bytes....")
        app = Flask(__name__)
        app.config.update(TESTING=True, SECRET_KEY="a test key")

        def get_session() -> Session:
            if "db_session" not in g:
                g.db_session = desk.factory()
            session: Session = g.db_session
            return session

        @app.teardown_appcontext
        def close_session(_exc: BaseException | None) -> None:
            session = g.pop("db_session", None)
            if session is not None:
                session.close()

        error_responses.init_app(app)
        app.register_blueprint(auth_blueprint(get_session, lambda: self.signer, desk.clock))
        app.register_blueprint(window_blueprint(get_session, lambda: desk.ctx))
        self.app = app
        self.client: FlaskClient = app.test_client()

    def headers(self, username: str) -> dict[str, str]:
        """A bearer token for ``username``, as the token endpoint issues it."""
        with self.desk.factory() as session:
            user = session.get(UserAccount, username)
            assert user is not None
            token = self.signer.issue(user, self.desk.clock())
        return {"Authorization": f"Bearer {token}"}

    def queue(self, username: str, window: str = CITY_WINDOW, **query: Any) -> TestResponse:
        return self.client.get(f"/api/v1/windows/{window}/cases", query_string=query,
                               headers=self.headers(username))

    def act(self, username: str, case_id: uuid.UUID | str, action: str,
            **fields: Any) -> TestResponse:
        return self.client.post(f"/api/v1/cases/{case_id}/actions",
                                json={"action": action, **fields},
                                headers=self.headers(username))

    def done(self, username: str, case_id: uuid.UUID, action: str,
             **fields: Any) -> dict[str, Any]:
        response = self.act(username, case_id, action, **fields)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def reassign(self, username: str, body: Any, window: str = CITY_WINDOW) -> TestResponse:
        return self.client.post(f"/api/v1/windows/{window}/reassign", json=body,
                                headers=self.headers(username))

    def holders(self, *case_ids: uuid.UUID) -> list[str | None]:
        """Who holds each case, as the case body the API serves says."""
        return [self.client.get(f"/api/v1/cases/{c}", headers=self.headers("city-lead"))
                .get_json()["claimed_by"] for c in case_ids]


@pytest.fixture
def api(db_engine: Engine) -> Api:
    desk = Desk(db_engine)
    desk.add_staff(STAFF)
    desk.add_staff([("t-desk", "window_operator", CITY_WINDOW)], site=TOWNSHIP)
    return Api(desk)


def error_of(response: TestResponse, status: int) -> dict[str, Any]:
    """The contract's error object of a refusal with ``status``."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    error: dict[str, Any] = body["error"]
    return error


# -- the queue ----------------------------------------------------------------------------------


def test_the_queue_lists_open_cases_by_deadline_with_the_working_days_left(api: Api) -> None:
    """An operator who logged in with their password sees the window's open cases, the
    accepted one first with its deadline and the working days left on the site's clock."""
    waiting = api.desk.register()
    accepted = api.desk.register(at=NOW + timedelta(minutes=1))
    api.desk.register("NY-3301")  # another window's case
    api.done(REVIEW, accepted, "claim")
    api.done(REVIEW, accepted, "accept")
    api.desk.clock.now = NOW + timedelta(days=7)  # Monday a week later

    login = api.client.post("/api/v1/auth/token",
                            json={"username": CHECK, "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    response = api.client.get(
        f"/api/v1/windows/{CITY_WINDOW}/cases",
        headers={"Authorization": f"Bearer {login.get_json()['access_token']}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["window"] == CITY_WINDOW
    due = CALENDAR.deadline(NOW, 20).due_at
    assert due == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)
    assert body["cases"] == [
        {"case_id": str(accepted), "acceptance_no": f"{VILLAGE}-20260302-0002",
         "item_code": "MZ-0520", "state": "accepted", "stage": "at_window",
         "claimed_by": REVIEW, "deadline": due.isoformat(), "working_days_left": 15,
         "co_approval": False},
        {"case_id": str(waiting), "acceptance_no": f"{VILLAGE}-20260302-0001",
         "item_code": "MZ-0520", "state": "routed", "stage": "at_window",
         "claimed_by": None, "deadline": None, "working_days_left": None, "co_approval": False},
    ]


@pytest.mark.parametrize(("username", "status", "code", "fields"), [
    (REVIEW, 200, None, None),
    ("mz-cashier", 200, None, None),
    ("city-lead", 200, None, None),
    ("city-admin", 200, None, None),
    ("ny-desk", 403, "forbidden", {"window": "you work at window W-NY-01, not W-MZ-01"}),
    ("ny-cashier", 403, "forbidden", {"window": "you work at window W-NY-01, not W-MZ-01"}),
    ("front-desk", 403, None, None),  # the role itself is refused before the view runs
])
def test_only_the_windows_own_staff_and_their_supervisors_read_its_queue(
        api: Api, username: str, status: int, code: str | None,
        fields: dict[str, str] | None) -> None:
    case_id = api.desk.register()
    response = api.queue(username)
    if status == 200:
        assert [c["case_id"] for c in response.get_json()["cases"]] == [str(case_id)]
        return
    error = error_of(response, status)
    if code is not None:
        assert (error["code"], error["fields"]) == (code, fields)


def test_a_user_of_another_site_is_refused_the_queue(api: Api) -> None:
    api.desk.register()
    api.desk.add_staff([("t-lead", "supervisor", None)], site=TOWNSHIP)
    for username in ("t-lead", "t-desk"):  # a supervisor, an operator of a window of that name
        error = error_of(api.queue(username), 403)
        assert error["fields"] == {"site": f"{username} works at {TOWNSHIP}, not here"}


def test_the_queue_needs_a_token_that_still_stands(api: Api) -> None:
    """No token, a forged one, or the token of an account switched off since: 401."""
    api.desk.register()
    headers = api.headers(REVIEW)
    with api.desk.factory() as session:
        set_active(session, REVIEW, False)
        session.commit()
    for sent in ({}, {"Authorization": "Bearer forged"}, headers):
        response = api.client.get(f"/api/v1/windows/{CITY_WINDOW}/cases", headers=sent)
        error = error_of(response, 401)
        assert error["code"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("limit", ["0", "201", "many", "-1"])
def test_a_queue_limit_out_of_range_is_refused_naming_the_field(api: Api, limit: str) -> None:
    error = error_of(api.queue(REVIEW, limit=limit), 400)
    assert (error["code"], error["message"], list(error["fields"])) == (
        "invalid", "invalid query", ["limit"])


def test_the_queue_limit_takes_the_first_cases_in_order(api: Api) -> None:
    first, second = api.desk.register(), api.desk.register(at=NOW + timedelta(minutes=1))
    assert [c["case_id"] for c in api.queue(REVIEW, limit="1").get_json()["cases"]] == [
        str(first)]
    every = api.queue(REVIEW, limit="200", page="2").get_json()["cases"]  # others ignored
    assert [c["case_id"] for c in every] == [str(first), str(second)]


# -- actions ------------------------------------------------------------------------------------


def test_an_action_answers_with_the_case_and_the_queue_follows(api: Api) -> None:
    case_id = api.desk.register()
    claimed = api.done(REVIEW, case_id, "claim")
    assert (claimed["state"], claimed["claimed_by"], claimed["deadline"]) == (
        "routed", REVIEW, None)
    assert claimed["events"][-1] == {"origin": CITY, "epoch": 1, "seq": 3, "type": "claimed",
                                     "actor": f"window_operator:{REVIEW}",
                                     "at": NOW.isoformat()}
    assert api.queue(CHECK).get_json()["cases"][0]["claimed_by"] == REVIEW

    api.desk.clock.now = NOW + timedelta(hours=1)
    accepted = api.done(REVIEW, case_id, "accept")
    due = CALENDAR.deadline(NOW + timedelta(hours=1), 20).due_at
    assert due is not None
    assert (accepted["state"], accepted["kind"], accepted["deadline"]) == (
        "accepted", "promised", due.isoformat())
    assert [e["type"] for e in accepted["events"]] == [
        "registered", "received", "routed", "claimed", "accepted"]
    assert api.queue(CHECK).get_json()["cases"][0]["working_days_left"] == 20


def test_two_operators_decide_a_case_one_reviews_the_other_checks(api: Api) -> None:
    """一审一核 through the API: the reviewer's own check is refused on ``checker``."""
    case_id = api.desk.register()
    for action in ("claim", "accept", "approve", "claim"):
        api.done(REVIEW, case_id, action)
    error = error_of(api.act(REVIEW, case_id, "check"), 403)
    assert (error["code"], list(error["fields"])) == ("forbidden", ["checker"])
    api.done(REVIEW, case_id, "release_claim")
    api.done(CHECK, case_id, "claim")
    decided = api.done(CHECK, case_id, "check")
    assert (decided["state"], decided["outcome"]) == ("decided", "approved")


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"action": "Missing data for required field."}),
    ({"action": "fly"}, {"action": "Must be one of"}),
    ({"action": "claim", "extra": 1}, {"extra": "Unknown field."}),
    ({"action": "reject", "reason": "理" * 2001}, {"reason": "Longer than maximum length"}),
    ({"action": "request_supplement", "missing": ["ID_CARD", ""]},
     {"missing.1": "Length must be between 1 and 40."}),
    ({"action": "record_external_decision", "outcome": "maybe"}, {"outcome": "Must be one of"}),
    ({"action": "claim", "assignee": 7, "reason": None},
     {"assignee": "Not a valid string.", "reason": "Field may not be null."}),
    (["claim"], {}),
    ("claim", {}),
])
def test_an_invalid_action_body_names_every_bad_field_and_does_nothing(
        api: Api, body: Any, fields: dict[str, str]) -> None:
    case_id = api.desk.register()
    response = api.client.post(f"/api/v1/cases/{case_id}/actions", json=body,
                               headers=api.headers(REVIEW))
    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == set(fields)
    for name, text in fields.items():
        assert text in error["fields"][name], error
    if not fields:
        assert error["message"] == "expected a JSON object"
    assert api.desk.types(case_id) == ["registered", "received", "routed"]


@pytest.mark.parametrize(("username", "action", "extra", "status", "code", "field"), [
    ("ny-desk", "claim", {}, 404, "not_found", "case_id"),  # as an unknown case
    ("front-desk", "claim", {}, 403, "forbidden", "role"),
    ("t-desk", "claim", {}, 403, "forbidden", "site"),
    (CHECK, "accept", {}, 409, "conflict", "claimed_by"),
    (CHECK, "check", {}, 409, "conflict", "state"),
    ("city-lead", "reassign", {"assignee": "ny-desk"}, 400, "invalid", "assignee"),
], ids=["other-window", "agent", "other-site", "unclaimed", "state", "bad-assignee"])
def test_a_refused_action_answers_why_and_writes_nothing(
        api: Api, username: str, action: str, extra: dict[str, Any], status: int, code: str,
        field: str) -> None:
    case_id = api.desk.register()
    api.done(REVIEW, case_id, "claim")
    error = error_of(api.act(username, case_id, action, **extra), status)
    assert (error["code"], list(error["fields"])) == (code, [field])
    assert error["message"].startswith(f"{field}: ") or error["message"] == (
        "the reassignment is not valid")
    assert api.desk.types(case_id) == ["registered", "received", "routed", "claimed"]
    assert api.queue(REVIEW).get_json()["cases"][0]["claimed_by"] == REVIEW


def test_an_unknown_case_is_not_found(api: Api) -> None:
    missing = uuid.uuid4()
    error = error_of(api.act(REVIEW, missing, "claim"), 404)
    assert (error["code"], list(error["fields"])) == ("not_found", ["case_id"])
    shown = api.client.get(f"/api/v1/cases/{missing}", headers=api.headers(REVIEW))
    assert error_of(shown, 404)["fields"] == {"case_id": "no such case at this site"}


def test_a_co_approving_department_is_the_operators_windows_when_the_token_names_none(
        api: Api) -> None:
    """The accounts carry no department: the API takes it from the operator's window in the
    catalogue, so the public security window answers for its department and another
    department is answered as for an unknown case."""
    case_id = api.desk.register("SJ-0101")  # a joint case: SJ, SW and GA approve together
    api.done("sj-desk", case_id, "claim")
    accepted = api.done("sj-desk", case_id, "accept")
    assert accepted["state"] == "joint_approval"
    answered = api.done("ga-desk", case_id, "co_approve")
    assert answered["events"][-1]["type"] == "co_approved"
    assert answered["events"][-1]["actor"] == "window_operator:ga-desk"
    error = error_of(api.act("ny-desk", case_id, "co_approve"), 404)
    assert error["fields"] == {"case_id": "no such case at this site"}


def test_the_case_body_tells_the_cases_story(api: Api) -> None:
    case_id = api.desk.register()
    api.done(REVIEW, case_id, "claim")
    api.done(REVIEW, case_id, "request_supplement", missing=["ID_CARD", "PHOTO"],
             reason="请补齐身份证和照片")
    body = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers(CHECK)).get_json()
    assert {k: v for k, v in body.items() if k != "events"} == {
        "case_id": str(case_id), "acceptance_no": f"{VILLAGE}-20260302-0001",
        "item_code": "MZ-0520", "kind": "supplement", "state": "awaiting_supplement",
        "stage": "awaiting_supplement", "site": VILLAGE, "window": CITY_WINDOW,
        "deadline": None, "claimed_by": None, "missing": ["ID_CARD", "PHOTO"],
        "outcome": None}
    assert [(e["origin"], e["type"]) for e in body["events"]] == [
        (VILLAGE, "registered"), (CITY, "received"), (CITY, "routed"), (CITY, "claimed"),
        (CITY, "supplement_requested")]


def test_a_site_that_serves_its_own_case_view_gets_none_from_the_blueprint(
        api: Api) -> None:
    """A node answers ``GET /api/v1/cases/<id>`` itself: the blueprint then leaves it out."""
    app = Flask(__name__)
    error_responses.init_app(app)
    app.register_blueprint(window_blueprint(api.desk.factory, lambda: api.desk.ctx,
                                            case_view=False))
    assert not any(rule.rule == "/api/v1/cases/<uuid:case_id>" for rule in app.url_map.iter_rules())
    assert error_of(app.test_client().get(f"/api/v1/cases/{uuid.uuid4()}"), 404)["code"] == (
        "not_found")


# -- bulk reassignment --------------------------------------------------------------------------


@pytest.fixture
def held(api: Api) -> list[uuid.UUID]:
    """Two cases the absent reviewer holds and one a colleague holds."""
    cases = [api.desk.register(at=NOW + timedelta(minutes=n)) for n in range(3)]
    for case_id in cases[:2]:
        api.done(REVIEW, case_id, "claim")
    api.done(CHECK, cases[2], "claim")
    return cases


def test_a_supervisor_moves_the_absent_operators_cases(api: Api, held: list[uuid.UUID]) -> None:
    response = api.reassign("city-lead", {"from": REVIEW, "to": THIRD, "reason": "病假"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "window": CITY_WINDOW, "from": REVIEW, "to": THIRD, "remaining": 0,
        "moved": [{"case_id": str(held[0]), "acceptance_no": f"{VILLAGE}-20260302-0001"},
                  {"case_id": str(held[1]), "acceptance_no": f"{VILLAGE}-20260302-0002"}]}
    assert api.holders(*held) == [THIRD, THIRD, CHECK]
    assert [c["claimed_by"] for c in api.queue(THIRD).get_json()["cases"]] == [
        THIRD, THIRD, CHECK]


@pytest.mark.parametrize(("username", "body", "window", "status", "fields"), [
    (REVIEW, {"from": REVIEW, "to": THIRD}, CITY_WINDOW, 403, {"role": "only a supervisor"}),
    ("city-admin", {"from": REVIEW, "to": THIRD}, CITY_WINDOW, 403,
     {"role": "only a supervisor"}),
    ("city-lead", {"from": REVIEW, "to": "ny-desk"}, CITY_WINDOW, 400,
     {"to": "not an operator of window"}),
    ("city-lead", {"from": "nobody", "to": "nobody-else"}, CITY_WINDOW, 400,
     {"from": "no user nobody", "to": "no user nobody-else"}),
    ("city-lead", {"from": REVIEW, "to": REVIEW}, CITY_WINDOW, 400, {"to": "the same operator"}),
    ("city-lead", {"from": REVIEW}, CITY_WINDOW, 400, {"to": "Missing data"}),
    ("city-lead", {"from": REVIEW, "to": ""}, CITY_WINDOW, 400,
     {"to": "Length must be between 1 and 64."}),
    ("city-lead", {"from": REVIEW, "to": THIRD, "extra": 1}, CITY_WINDOW, 400,
     {"extra": "Unknown field"}),
    ("city-lead", [REVIEW, THIRD], CITY_WINDOW, 400, {}),
    ("city-lead", {"from": REVIEW, "to": THIRD}, "W-NOPE", 404, {"window": "no window"}),
], ids=["operator", "admin", "to-elsewhere", "both-unknown", "same-person", "missing-to",
        "blank-to", "unknown-field", "not-an-object", "unknown-window"])
def test_a_refused_bulk_reassignment_answers_in_the_contract_shape_and_moves_nothing(
        api: Api, held: list[uuid.UUID], username: str, body: Any, window: str, status: int,
        fields: dict[str, str]) -> None:
    error = error_of(api.reassign(username, body, window), status)
    if status == 403:
        assert error["code"] == "forbidden" and fields["role"] in error["message"]
    else:
        assert set(error["fields"]) == set(fields)
        for name, text in fields.items():
            assert text in error["fields"][name], error
    assert api.holders(*held) == [REVIEW, REVIEW, CHECK]


def test_a_bulk_reassignment_refused_half_way_moves_none(api: Api) -> None:
    """The second case's item left the catalogue in the new release: the answer is 404 and
    the first case, already moved in the request, stays with the absent operator too."""
    first = api.desk.register(COUNTY_ITEM)
    second = api.desk.register("MZ-0203", at=NOW + timedelta(minutes=1))
    for case_id in (first, second):
        api.done("mz02-a", case_id, "claim")
    api.desk.catalogue = retired(api.desk.catalogue, "MZ-0203")

    error = error_of(api.reassign("city-lead", {"from": "mz02-a", "to": "mz02-b"},
                                  COUNTY_WINDOW), 404)
    assert error["fields"] == {"item_code": "no service item 'MZ-0203' in catalogue v2"}
    assert api.holders(first, second) == ["mz02-a", "mz02-a"]
    assert [c["claimed_by"] for c in api.queue("mz02-b", COUNTY_WINDOW).get_json()["cases"]] == [
        "mz02-a", "mz02-a"]


def test_a_supervisor_of_another_site_is_refused(api: Api, held: list[uuid.UUID]) -> None:
    api.desk.add_staff([("t-lead", "supervisor", None)], site=TOWNSHIP)
    error = error_of(api.reassign("t-lead", {"from": REVIEW, "to": THIRD}), 403)
    assert error["fields"] == {"site": f"t-lead works at {TOWNSHIP}, not here"}
    assert api.holders(*held) == [REVIEW, REVIEW, CHECK]
