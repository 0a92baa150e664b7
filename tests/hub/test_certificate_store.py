"""The certificate store at the hub (证照库, docs/certificates.md), through the hub's own app:
a copy received with one case is offered to a later case of another item of the same person
while it is valid, never to anyone else and never once expired; a registration that names it
(with the applicant's consent) is trusted at ingest, a stale or foreign reference is recorded
as not trusted without losing the case, and the supervision report counts what was reused."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from csv import DictReader
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hub.cli import hub_group
from hub.db_session import app_session
from hub.identity import data_keys
from hub.models import HubMaterialReuse
from hub.privacy.certificates import held_for
from hub.privacy.tables import HubCertificate, HubCertificateQuery
from shared.deciding import case_work
from shared.exchange.lookup_relay import HEADER, relay_header
from shared.storage import sync_store
from shared.storage.id_index import blind_index
from shared.web.certificate_lookup import relay_pair
from sync_protocol import generate_key
from sync_protocol.times import to_ms
from tests.hub.conftest import ID_NUMBER, Hub, User, register_at_hub

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
OTHER_ID = "431002198001011239"
DESK, OPERATOR, LEAD, ADMIN = "desk", "jt-review", "city-lead", "privacy-admin"
SCAN = "cd" * 32
LATER_ITEM = "JT-2201"  # 从业资格证核发 asks for the ID card too (city window W-JT-01)
LATER_FORM = {"qualification": "freight", "exam_passed_on": "2026-11-20"}


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    built = make_hub(START, [(DESK, "agent", None), (OPERATOR, "window_operator", "W-JT-01"),
                             (LEAD, "supervisor", None), (ADMIN, "admin", None)])
    # a resale-housing transfer (ZR-0801) with the seller's ID card scanned: the store keeps
    # the copy for 180 days (the sample's valid_days); the sale contract is not reusable
    register_at_hub(built, 1, item_code="ZR-0801", window="W-ZR-01", materials=[
        {"code": "ID_CARD", "sha256": SCAN, "size": 1000, "media_type": "image/jpeg"},
        {"code": "SALE_CONTRACT", "sha256": "ef" * 32, "size": 2000,
         "media_type": "application/pdf"}])
    return built


def _held(hub: Hub, id_number: str, item: str = LATER_ITEM, user: str = DESK) -> Any:
    return hub.app.test_client().post("/api/v1/certificates/held",
                                      json={"id_number": id_number, "item_code": item},
                                      headers=hub.bearer(user))


def _register(hub: Hub, key: str, body: dict[str, Any]) -> Any:
    full = {"item_code": LATER_ITEM, "form": LATER_FORM, "delivery": "window",
            "applicant": {"name": "李四", "id_number": ID_NUMBER, "phone": "13800138000"},
            **body}
    return hub.app.test_client().post("/api/v1/cases", json=full,
                                      headers={**hub.bearer(DESK), "Idempotency-Key": key})


def _reuses(hub: Hub) -> list[tuple[str, int, str | None]]:
    with app_session(hub.app) as session:
        return [(r.material_code, r.trusted, r.reason)
                for r in session.scalars(select(HubMaterialReuse))]


def test_a_valid_copy_is_offered_to_its_holder_only_and_the_question_is_logged(
        hub: Hub) -> None:
    answer = _held(hub, ID_NUMBER)
    assert answer.status_code == 200, answer.get_json()
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    (held,) = body["held"]
    assert held["material_code"] == "ID_CARD" and held["source"] == "received"
    assert held["name"] == "申请人居民身份证"
    assert held["valid_until"] == (START.date() + timedelta(days=180)).isoformat()
    assert len(held["ref"]) == 32 and body["answered_by"] == "431000"
    # the same number with a space and a lower-case x would find the same; another finds none
    assert _held(hub, OTHER_ID).get_json()["held"] == []
    with app_session(hub.app) as session:
        logged = session.scalars(select(HubCertificateQuery)).all()
        stored = session.scalars(select(HubCertificate)).all()
    assert [q.found for q in logged] == [1, 0]
    assert {q.asked_by for q in logged} == {f"agent:{DESK}"}
    assert ID_NUMBER not in repr([(q.blind_index, q.asked_by) for q in logged])
    assert [(s.material_code, s.digest) for s in stored] == [("ID_CARD", SCAN)]
    assert all(ID_NUMBER not in s.blind_index for s in stored)


def test_the_look_up_wants_an_agent_a_real_number_and_a_known_item(hub: Hub) -> None:
    client = hub.app.test_client()
    anonymous = client.post("/api/v1/certificates/held",
                            json={"id_number": ID_NUMBER, "item_code": LATER_ITEM})
    assert anonymous.status_code == 401
    assert _held(hub, ID_NUMBER, user=OPERATOR).status_code == 403
    bad = _held(hub, "110105194912310021")
    assert bad.status_code == 400 and "id_number" in bad.get_json()["error"]["fields"]
    assert _held(hub, ID_NUMBER, item="ZZ-9999").status_code == 404
    extra = client.post("/api/v1/certificates/held", headers=hub.bearer(DESK),
                        json={"id_number": ID_NUMBER, "item_code": LATER_ITEM, "x": 1})
    assert extra.status_code == 400 and "x" in extra.get_json()["error"]["fields"]


def test_an_expired_copy_is_not_offered(hub: Hub) -> None:
    hub.clock.now = START + timedelta(days=180)
    assert [h["material_code"] for h in _held(hub, ID_NUMBER).get_json()["held"]] == ["ID_CARD"]
    hub.clock.now = START + timedelta(days=181)
    assert _held(hub, ID_NUMBER).get_json()["held"] == []


def test_reuse_needs_the_applicants_consent(hub: Hub) -> None:
    ref = _held(hub, ID_NUMBER).get_json()["held"][0]["ref"]
    refused = _register(hub, "no-consent", {"reuse": [{"material_code": "ID_CARD", "ref": ref}]})
    assert refused.status_code == 400
    assert "reuse_consent" in refused.get_json()["error"]["fields"]
    wrong = _register(hub, "wrong-material", {
        "reuse": [{"material_code": "SALE_CONTRACT", "ref": ref}], "reuse_consent": True})
    assert wrong.status_code == 400
    assert "reuse.0.material_code" in wrong.get_json()["error"]["fields"]
    assert _reuses(hub) == []


def test_a_reused_copy_is_trusted_shown_as_reused_and_counted(hub: Hub, tmp_path: Path) -> None:
    ref = _held(hub, ID_NUMBER).get_json()["held"][0]["ref"]
    created = _register(hub, "reuse", {"reuse": [{"material_code": "ID_CARD", "ref": ref}],
                                       "reuse_consent": True})
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["case_id"]
    assert _reuses(hub) == [("ID_CARD", 1, None)]
    services = hub.services
    with app_session(hub.app) as session:
        registered = case_work.case_events(session, services.sync_site, _uuid(case_id))[0]
    assert registered.payload["materials"] == [{"code": "ID_CARD", "reused": {"ref": ref}}]
    consent = registered.payload["reuse_consent"]
    # the applicant's access request (PIPL art. 45) says which material came from the store
    asked = hub.app.test_client().post("/api/v1/admin/access-requests", headers=hub.bearer(ADMIN),
                                       json={"id_number": ID_NUMBER}).get_json()
    (later,) = [c for c in asked["cases"] if c["case_id"] == case_id]
    assert later["materials"] == [{"code": "ID_CARD", "sha256": None, "size": None,
                                   "media_type": None, "reused": True}]
    assert consent["given"] is True and consent["recorded_by"] == f"agent:{DESK}"
    assert consent["materials"] == ["ID_CARD"]
    claimed = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions",
                                         json={"action": "claim"}, headers=hub.bearer(OPERATOR))
    assert claimed.status_code == 200, claimed.get_json()
    page = hub.login(OPERATOR).get(f"/windows/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="reused-materials"' in html and "证照库调取" in html and "证照库已核验" in html
    # the reused ID card counts as handed in: the one-time notice does not tick it
    assert 'value="ID_CARD">' in html and 'value="PHOTO" checked' in html
    report = hub.app.test_client().get("/api/v1/reports/day",
                                       query_string={"date": START.date().isoformat()},
                                       headers=hub.bearer(LEAD)).get_json()
    (row,) = [r for r in report["rows"] if r["window"] == "W-JT-01"]
    assert row["materials_reused"] == 1 and report["total"]["materials_reused"] == 1
    csv = hub.app.test_client().get("/api/v1/reports/day",
                                    query_string={"date": START.date().isoformat(),
                                                  "format": "csv"},
                                    headers=hub.bearer(LEAD)).get_data(as_text=True)
    exported = list(DictReader(StringIO(csv)))
    assert [r["materials_reused"] for r in exported if r["window"] == "W-JT-01"] == ["1"]
    page = hub.login(LEAD).get(f"/supervision/reports/day?date={START.date().isoformat()}")
    assert 'id="materials-reused"' in page.get_data(as_text=True)
    pdf = hub.app.test_client().get("/api/v1/reports/day", headers=hub.bearer(LEAD),
                                    query_string={"date": START.date().isoformat(),
                                                  "format": "pdf"})
    (tmp_path / "day.pdf").write_bytes(pdf.get_data())
    printed = subprocess.run(["pdftotext", "-layout", str(tmp_path / "day.pdf"), "-"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert "证照库复用材料" in printed and "W-JT-01" in printed


def test_a_stale_or_foreign_reference_is_recorded_untrusted_and_the_case_kept(
        hub: Hub) -> None:
    ref = _held(hub, ID_NUMBER).get_json()["held"][0]["ref"]
    # another person names this person's copy: registered, not trusted
    foreign = _register(hub, "foreign", {
        "applicant": {"name": "王五", "id_number": OTHER_ID, "phone": "13900139000"},
        "reuse": [{"material_code": "ID_CARD", "ref": ref}], "reuse_consent": True})
    assert foreign.status_code == 201
    # the holder, after the copy expired (the agent's form was filled in long ago)
    hub.clock.now = START + timedelta(days=200)
    stale = _register(hub, "stale", {"reuse": [{"material_code": "ID_CARD", "ref": ref}],
                                     "reuse_consent": True})
    assert stale.status_code == 201
    unknown = _register(hub, "unknown", {"reuse": [{"material_code": "ID_CARD",
                                                    "ref": "0" * 32}], "reuse_consent": True})
    assert unknown.status_code == 201
    assert sorted(_reuses(hub)) == [("ID_CARD", 0, "expired"), ("ID_CARD", 0, "other_holder"),
                                    ("ID_CARD", 0, "unknown")]
    case_id = stale.get_json()["case_id"]
    claimed = hub.app.test_client().post(f"/api/v1/cases/{case_id}/actions",
                                         json={"action": "claim"}, headers=hub.bearer(OPERATOR))
    assert claimed.status_code == 200, claimed.get_json()
    html = hub.login(OPERATOR).get(f"/windows/cases/{case_id}").get_data(as_text=True)
    assert "证照库未能核实" in html
    # the window's one-time notice has the untrusted ID card ticked as missing
    assert 'value="ID_CARD" checked' in html
    report = hub.app.test_client().get("/api/v1/reports/month",
                                       query_string={"date": START.date().isoformat()},
                                       headers=hub.bearer(LEAD)).get_json()
    assert report["total"]["materials_reused"] == 0


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def test_a_relay_no_child_of_the_hub_vouched_for_is_not_believed(hub: Hub) -> None:
    stranger = generate_key("431002001")  # a township the hub never enrolled
    what, whose = relay_pair(ID_NUMBER, LATER_ITEM)
    header = relay_header(stranger, "agent:someone", what, whose, hub.clock())
    answer = hub.app.test_client().post("/api/v1/certificates/held", headers={HEADER: header},
                                        json={"id_number": ID_NUMBER, "item_code": LATER_ITEM})
    assert answer.status_code == 401
    with app_session(hub.app) as session:
        assert session.scalars(select(HubCertificateQuery)).all() == []


def test_rotating_the_data_key_writes_the_store_again_under_the_new_key(hub: Hub) -> None:
    ref = _held(hub, ID_NUMBER).get_json()["held"][0]["ref"]
    settings = hub.services.settings
    result = CliRunner().invoke(hub_group, ["rotate-data-key", "--data-dir",
                                            str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "certificate store for 1 holdings" in result.output
    new = data_keys(settings.key_dir)
    with app_session(hub.app) as session:
        rows = [(r.ref, r.blind_index) for r in session.scalars(select(HubCertificate))]
        assert rows == [(ref, blind_index(new, ID_NUMBER))]  # the same reference
        found = held_for(session, new, hub.services.catalogue, ID_NUMBER, LATER_ITEM,
                         asked_by="test", now=hub.clock())
    assert [h.ref for h in found] == [ref]
    again = CliRunner().invoke(hub_group, ["reindex-ids", "--data-dir", str(settings.data_dir)])
    assert again.exit_code == 0 and "1 holdings in the certificate store" in again.output


def test_a_late_scan_of_a_reusable_material_is_kept_and_offered_instead(hub: Hub) -> None:
    with app_session(hub.app) as session:
        case_id = session.scalars(select(HubCertificate.case_id)).one()
    hub.clock.now = START + timedelta(days=30)
    services = hub.services
    site = services.sync_site
    late = "9a" * 32
    with app_session(hub.app) as session:
        for code, sha in (("ID_CARD", late), ("SALE_CONTRACT", "9b" * 32)):
            row = sync_store.author_event(
                session, site.key, site.sealer, epoch=site.epoch, case_id=case_id,
                actor="agent:desk", type="material_added", at_ms=to_ms(hub.clock()),
                payload={"code": code, "sha256": sha, "size": 10, "media_type": "image/jpeg"},
                up=False, now_ms=to_ms(hub.clock()))
            site.hooks.events_arrived(session, [sync_store.as_event(row, site.sealer)],
                                      hub.clock())
        session.commit()
        kept = sorted((r.material_code, r.digest) for r in session.scalars(select(HubCertificate)))
    assert kept == sorted([("ID_CARD", SCAN), ("ID_CARD", late)])  # not the contract
    (held,) = _held(hub, ID_NUMBER).get_json()["held"]
    # the newer copy is valid longest: it is the one offered
    assert held["valid_until"] == (START.date() + timedelta(days=210)).isoformat()
