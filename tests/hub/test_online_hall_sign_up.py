"""Signing up at the online hall (网上服务大厅) over its API, with the texts going to an SMS
provider on 127.0.0.1: bad phone numbers, ID numbers and credit codes are refused with the
field named; a code expires, allows five wrong tries and is used once; codes and wrong codes
are limited per phone and per address; signing in takes a code and the sign-in is its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db_session import app_session
from hub.online_hall_models import OnlineAccount, OnlineCode
from tests.hub.conftest import Hub
from tests.hub.online_hall_fixtures import COMPANY, PERSON, SmsSink, hall_hub, sms_sink

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[SmsSink]:
    with sms_sink() as found:
        yield found


@pytest.fixture
def hub(tmp_path: Path, sink: SmsSink) -> Hub:
    return hall_hub(tmp_path, NOW, sink)


def _code(hub: Hub, phone: str) -> Any:
    return hub.app.test_client().post("/api/v1/online/codes", json={"phone": phone})


def _sign_up(hub: Hub, applicant: dict[str, Any], code: str) -> Any:
    return hub.app.test_client().post("/api/v1/online/accounts",
                                      json={"applicant": applicant, "code": code})


def _accounts(hub: Hub) -> int:
    with app_session(hub.app) as session:
        return session.scalar(select(func.count()).select_from(OnlineAccount)) or 0


def test_bad_phone_id_number_and_credit_code_are_named(hub: Hub, sink: SmsSink) -> None:
    refused = _code(hub, "0731-2345678")
    assert refused.status_code == 400
    assert set(refused.get_json()["error"]["fields"]) == {"phone"}
    assert sink.received == []  # nothing texted

    bad_person = {**PERSON, "phone": "1391234567", "id_number": "110105194912310021"}
    answer = _sign_up(hub, bad_person, "123456")
    assert answer.status_code == 400
    assert {"applicant.phone", "applicant.id_number"} <= set(answer.get_json()["error"]["fields"])

    bad_company = {**COMPANY, "uscc": "91431000MA4L0PQR7X"}
    answer = _sign_up(hub, bad_company, "123456")
    assert answer.status_code == 400
    assert set(answer.get_json()["error"]["fields"]) == {"applicant.uscc"}
    assert _accounts(hub) == 0


def test_a_person_and_a_company_sign_up_with_the_code_texted_to_them(
        hub: Hub, sink: SmsSink) -> None:
    assert _code(hub, PERSON["phone"]).status_code == 202
    client = hub.app.test_client()
    answer = client.post("/api/v1/online/accounts",
                         json={"applicant": PERSON, "code": sink.code_for(PERSON["phone"])})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["kind"] == "person"
    page = client.get("/online")  # the answer's session is signed in
    assert page.status_code == 200 and "王芳" in page.get_data(as_text=True)
    assert client.get("/windows").status_code in (302, 401)  # not a staff sign-in

    rep_phone = COMPANY["legal_representative"]["phone"]
    assert _code(hub, rep_phone).status_code == 202
    answer = _sign_up(hub, COMPANY, sink.code_for(rep_phone))
    assert answer.status_code == 201 and answer.get_json()["kind"] == "company"

    # the same phone again: sign in instead
    hub.clock.now += timedelta(minutes=2)
    assert _code(hub, PERSON["phone"]).status_code == 202
    again = _sign_up(hub, PERSON, sink.code_for(PERSON["phone"]))
    assert again.status_code == 409
    assert _accounts(hub) == 2


def test_a_code_allows_five_wrong_tries_then_a_new_one_is_needed(
        hub: Hub, sink: SmsSink) -> None:
    assert _code(hub, PERSON["phone"]).status_code == 202
    right = sink.code_for(PERSON["phone"])
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    reasons = [_sign_up(hub, PERSON, wrong).get_json()["error"]["fields"]["code"] for _ in range(5)]
    assert reasons[:4] == ["wrong code"] * 4
    assert reasons[4].startswith("too many wrong tries")
    refused = _sign_up(hub, PERSON, right)  # even the right code is spent now
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"]["code"].startswith("too many wrong tries")

    hub.clock.now += timedelta(minutes=1, seconds=1)
    assert _code(hub, PERSON["phone"]).status_code == 202
    assert _sign_up(hub, PERSON, sink.code_for(PERSON["phone"])).status_code == 201


def test_a_code_expires_after_ten_minutes_and_is_used_once(hub: Hub, sink: SmsSink) -> None:
    assert _code(hub, PERSON["phone"]).status_code == 202
    code = sink.code_for(PERSON["phone"])
    hub.clock.now += timedelta(minutes=10)
    late = _sign_up(hub, PERSON, code)
    assert late.status_code == 400
    assert late.get_json()["error"]["fields"]["code"].startswith("no code in force")

    assert _code(hub, PERSON["phone"]).status_code == 202
    code = sink.code_for(PERSON["phone"])
    assert _sign_up(hub, PERSON, code).status_code == 201
    with app_session(hub.app) as session:
        assert session.scalar(select(func.count()).select_from(OnlineCode)
                              .where(OnlineCode.used == 0)) == 0
        stored = session.scalars(select(OnlineCode.digest)).all()
    assert code not in "".join(stored)  # kept only as a keyed digest


def test_codes_are_limited_per_phone(hub: Hub, sink: SmsSink) -> None:
    phone = PERSON["phone"]
    assert _code(hub, phone).status_code == 202
    soon = _code(hub, phone)
    assert soon.status_code == 429 and 1 <= int(soon.headers["Retry-After"]) <= 61
    for _ in range(4):
        hub.clock.now += timedelta(minutes=1, seconds=1)
        assert _code(hub, phone).status_code == 202
    hub.clock.now += timedelta(minutes=1, seconds=1)
    sixth = _code(hub, phone)
    assert sixth.status_code == 429 and int(sixth.headers["Retry-After"]) > 60
    assert len(sink.received) == 5
    assert _code(hub, "13612345678").status_code == 202  # another phone is not held up


def test_codes_and_wrong_codes_are_limited_per_address(hub: Hub, sink: SmsSink) -> None:
    phones = [f"139000000{n:02d}" for n in range(21)]
    for phone in phones[:20]:
        assert _code(hub, phone).status_code == 202
    assert _code(hub, phones[20]).status_code == 429  # one address, many phones
    assert len(sink.received) == 20

    guesses = [_sign_up(hub, {**PERSON, "phone": phone}, "000000").status_code
               for phone in phones[:20]]
    assert set(guesses) == {400}
    right = _sign_up(hub, {**PERSON, "phone": phones[0]}, sink.code_for(phones[0]))
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert _accounts(hub) == 0


def test_signing_in_takes_a_code_and_starts_a_session_of_its_own(
        hub: Hub, sink: SmsSink) -> None:
    assert _code(hub, PERSON["phone"]).status_code == 202
    assert _sign_up(hub, PERSON, sink.code_for(PERSON["phone"])).status_code == 201
    client = hub.app.test_client()
    assert client.get("/online").status_code == 302  # to the sign-in page
    hub.clock.now += timedelta(minutes=2)
    sent = client.post("/online/signin", data={"phone": PERSON["phone"], "action": "send_code"})
    assert sent.status_code == 200 and 'name="code"' in sent.get_data(as_text=True)
    wrong = client.post("/online/signin", data={"phone": PERSON["phone"], "action": "sign_in",
                                                "code": "000000"})
    assert wrong.status_code == 400
    signed = client.post("/online/signin?next=/online", data={
        "phone": PERSON["phone"], "action": "sign_in", "code": sink.code_for(PERSON["phone"])})
    assert signed.status_code == 303 and signed.headers["Location"] == "/online"
    assert "王芳" in client.get("/online").get_data(as_text=True)
    client.post("/online/signout")
    assert client.get("/online").status_code == 302

    stranger = hub.app.test_client()  # a phone without an account learns so only by its code
    assert stranger.post("/online/signin", data={"phone": "13600000000",
                                                 "action": "send_code"}).status_code == 200
    unknown = stranger.post("/online/signin", data={
        "phone": "13600000000", "action": "sign_in", "code": sink.code_for("13600000000")})
    assert unknown.status_code == 404 and stranger.get("/online").status_code == 302
