"""One-form registration (一表制) at a village node: one case per part, one transaction.

The composite YJS-0002 joins the minimum living allowance (MZ-0101, civil affairs) and the
disability subsidies (CL-3307, the disabled persons' federation). The one form asks the bank
account both parts need once; each part's case keeps only the answers its own form asks.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import NodeCase
from shared.deciding import case_work
from shared.domain.case_bundles import bundle_of
from shared.storage.sync_store import count_pending_up
from tests.node.conftest import PNG, node_services, person

ONE_FORM = {
    "household_size": 3, "monthly_income": "1200.00", "residence_type": "rural",
    "has_disabled_member": True, "bank_account": "6217001234567890123",
    "subsidy_type": "both", "disability_certificate_no": "43100219800101001X12",
    "in_school": False,
}


def one_form_body(**overrides: Any) -> dict[str, Any]:
    body = {"composite": "YJS-0002", "applicant": person(), "form": dict(ONE_FORM),
            "delivery": "village"}
    body.update(overrides)
    return body


def post(client: FlaskClient, body: dict[str, Any], key: str = "b-1") -> Any:
    return client.post("/api/v1/bundles", json=body, headers={"Idempotency-Key": key})


def test_one_form_fans_out_into_a_case_per_part(client: FlaskClient,
                                                app: Flask) -> None:
    answer = post(client, one_form_body())
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    parts = body["cases"]
    assert len(parts) == 2
    numbers = [body["acceptance_no"], *(p["acceptance_no"] for p in parts)]
    assert len(set(numbers)) == 3  # the parent's number is never a part's
    with node_services(app).session_factory() as session:
        held = session.scalars(select(NodeCase).order_by(NodeCase.acceptance_no)).all()
        assert [c.item_code for c in held] == ["MZ-0101", "CL-3307"]
        assert {str(c.bundle_id) for c in held} == {body["bundle_id"]}
        forms = {}
        for case in held:
            events = case_work.case_events(session, node_services(app).sync_site, case.case_id)
            assert [e.type.value for e in events] == ["registered"]
            ref = bundle_of(events[0].payload)
            assert ref is not None and ref.acceptance_no == body["acceptance_no"]
            assert ref.parts == ("MZ-0101", "CL-3307")
            forms[case.item_code] = events[0].payload["form"]
        outbox = count_pending_up(session)
    # each part keeps only its own form's answers; the shared bank account goes to both
    assert set(forms["MZ-0101"]) == {"household_size", "monthly_income", "residence_type",
                                     "has_disabled_member", "bank_account"}
    assert set(forms["CL-3307"]) == {"subsidy_type", "disability_certificate_no",
                                     "in_school", "bank_account"}
    assert outbox == 2  # both registrations travel up
    # one query code opens every part
    for part in parts:
        status = client.get("/api/v1/public/status", query_string={
            "acceptance_no": part["acceptance_no"], "query_code": body["query_code"]})
        assert status.status_code == 200, status.get_json()
    parent = client.get(f"/api/v1/bundles/{body['bundle_id']}").get_json()
    assert parent["state"] == "in_progress"
    assert parent["parts_expected"] == 2 and parent["parts_closed"] == 0


def test_a_repeated_key_answers_the_same_parts_and_writes_none(
        client: FlaskClient, app: Flask) -> None:
    first = post(client, one_form_body()).get_json()
    again = post(client, one_form_body())
    assert again.status_code == 200
    assert again.get_json() == first
    with node_services(app).session_factory() as session:
        assert session.scalar(select(func.count()).select_from(NodeCase)) == 2
    other = post(client, one_form_body(delivery="window"))
    assert other.status_code == 409
    assert other.get_json()["error"]["fields"] == {
        "Idempotency-Key": "this key was already used for a different application"}


def test_a_bad_one_form_names_every_field_and_writes_nothing(
        client: FlaskClient, app: Flask) -> None:
    form = dict(ONE_FORM, bank_account="12", subsidy_type="cash")
    del form["household_size"]
    answer = post(client, one_form_body(form=form))
    assert answer.status_code == 400
    fields = answer.get_json()["error"]["fields"]
    assert set(fields) >= {"form.bank_account", "form.subsidy_type", "form.household_size"}
    unknown = post(client, one_form_body(composite="YJS-9999"), key="b-2")
    assert unknown.status_code == 400
    assert "composite" in unknown.get_json()["error"]["fields"]
    with node_services(app).session_factory() as session:
        assert session.scalar(select(func.count()).select_from(NodeCase)) == 0
        assert count_pending_up(session) == 0


def test_an_unknown_parent_is_404(client: FlaskClient) -> None:
    for text in ("not-a-uuid", "7b1e0c1e-5a4b-4d6e-9f00-000000000000"):
        answer = client.get(f"/api/v1/bundles/{text}")
        assert answer.status_code == 404
        assert answer.get_json()["error"]["fields"] == {
            "bundle_id": "no one-form application with this id at this site"}


def test_the_one_form_page_refuses_a_scan_of_no_material_it_asks_for(
        client: FlaskClient, app: Flask) -> None:
    """The page reads scans as the single-item intake does: a ``file.<code>`` naming no
    material of the one form is refused (the form comes back), and nothing is written."""
    data: dict[str, Any] = {
        "idempotency_key": "one-page-1", "applicant.kind": "person", "action": "register",
        "applicant.name": "王𠮷祥", "applicant.id_number": "431002198001010017",
        "applicant.phone": "13800138000", "delivery": "village",
        **{f"form.{k}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in ONE_FORM.items()},
        "file.NOT_ASKED": (io.BytesIO(PNG), "scan.png")}
    answer = client.post("/intake/one/YJS-0002", data=data,
                         content_type="multipart/form-data")
    assert answer.status_code == 400
    with node_services(app).session_factory() as session:
        assert session.scalar(select(func.count()).select_from(NodeCase)) == 0
    del data["file.NOT_ASKED"]
    data["idempotency_key"] = "one-page-2"
    assert client.post("/intake/one/YJS-0002", data=data).status_code == 303
