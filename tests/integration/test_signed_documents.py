"""Signed result documents across the tree, each site its own process over real HTTP, the
hub on PostgreSQL: a city case decided at the hub and a township case decided at the
township are issued there; the village prints the decision on its 80 mm roll, a real decoder
reads its QR code, and the verify API answers for the code at the village, the township and
the hub, each checking the issuing site's signature with the key it holds for it. A case the
village does not hold is asked up the tree."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.city import AGENT, HUB, PASSWORD, TOWNSHIP, Tree, city, signed_in
from tests.integration.processes import sanji
from tests.integration.test_three_tiers import (
    CITY_ITEM,
    FORM,
    TOWNSHIP_FORM,
    TOWNSHIP_ITEM,
    _act,
    _token,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def tree(tmp_path: Path, pg_schema_url: str) -> Iterator[Tree]:
    operators = {HUB: [("mz-review", "W-MZ-01"), ("mz-check", "W-MZ-01")],
                 TOWNSHIP: [("t-review", "W-MZ-11"), ("t-check", "W-MZ-11")]}
    with city(tmp_path, operators, hub_database_url=pg_schema_url) as built:
        yield built


def _register(tree: Tree, key: str, item: str, form: dict[str, Any]) -> dict[str, Any]:
    body = {"item_code": item, "form": form, "delivery": "village",
            "applicant": {"name": "王𠮷祥", "id_number": "11010519491231002X",
                          "phone": "13800138000"}}
    response = signed_in(tree.village, AGENT).post(
        f"{tree.village.url}/api/v1/cases", json=body, headers={"Idempotency-Key": key},
        timeout=10)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _decide(site: Any, review: str, check: str, case_id: str) -> None:
    first, second = _token(site, review), _token(site, check)
    for headers, action in ((first, "claim"), (first, "accept"), (first, "approve"),
                            (second, "claim"), (second, "check"), (second, "issue_result")):
        response = _act(site, headers, case_id, action)
        assert response.status_code == 200, response.text


def _qr_link(data: bytes, tmp_path: Path) -> str:
    import zxingcpp
    from PIL import Image

    pdf = tmp_path / "roll.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "王𠮷祥" in text and "准予决定书" in text and "验证码" in text
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(tmp_path / "roll")],
                   check=True)
    (png,) = tmp_path.glob("roll*.png")
    with Image.open(png) as image:
        (found,) = zxingcpp.read_barcodes(image)
    return str(found.text)


def _verify(site: Any, query: str) -> Any:
    response = requests.get(f"{site.url}/api/v1/public/verify?{query}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_documents_issued_at_the_hub_and_at_the_township_verify_at_every_site(
        tree: Tree, tmp_path: Path) -> None:
    at_city = _register(tree, "signed-city", CITY_ITEM, FORM)
    at_township = _register(tree, "signed-township", TOWNSHIP_ITEM, TOWNSHIP_FORM)
    tree.sync("village", "township")
    _decide(tree.hub, "mz-review", "mz-check", at_city["case_id"])
    _decide(tree.township, "t-review", "t-check", at_township["case_id"])
    tree.settle()

    roll = tree.agent().get(f"{tree.village.url}/cases/{at_city['case_id']}/result.pdf",
                            params={"layout": "80mm"}, timeout=30)
    assert roll.status_code == 200
    link = urlsplit(_qr_link(roll.content, tmp_path))
    assert link.path == "/verify"
    page = requests.get(f"{tree.village.url}/verify?{link.query}", timeout=10)
    assert page.status_code == 200 and 'id="unaltered"' in page.text

    city_answers = {name: _verify(site, link.query) for name, site in
                    (("village", tree.village), ("township", tree.township),
                     ("hub", tree.hub))}
    for name, body in city_answers.items():
        assert body["genuine"] is True and body["unaltered"] is True, (name, body)
        assert body["issuer"]["site"] == HUB and body["checked_by"] != ""
        assert body["checks"]["signature"]["key_id"] == body["issuer"]["key_id"]
        assert body["facts"]["applicant_name"] == "王**"

    township_pdf = tree.agent().get(
        f"{tree.village.url}/cases/{at_township['case_id']}/result.pdf", timeout=30)
    assert township_pdf.status_code == 200
    code = _code_in(township_pdf.content, tmp_path)
    for site in (tree.township, tree.hub, tree.village):
        body = _verify(site, f"acceptance_no={at_township['acceptance_no']}&code={code}")
        assert body["issuer"]["site"] == TOWNSHIP and body["unaltered"] is True, body
    wrong = requests.get(f"{tree.hub.url}/api/v1/public/verify", timeout=10, params={
        "acceptance_no": at_township["acceptance_no"], "code": "0000-0000-0000-0000"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"
    _a_station_asks_up_for_a_case_it_does_not_hold(tree)


def _a_station_asks_up_for_a_case_it_does_not_hold(tree: Tree) -> None:
    """A case registered at the city's front desk never reaches the village: the village
    asks the township, which asks the hub, and passes its answer on."""
    sanji("hub", "add-user", "--data-dir", str(tree.dirs["hub"]), "--username", "city-desk",
          "--password", PASSWORD, "--role", "agent", "--site", HUB)
    body = {"item_code": CITY_ITEM, "form": FORM, "delivery": "window",
            "applicant": {"name": "赵六", "id_number": "11010519491231002X",
                          "phone": "13800138000"}}
    created = signed_in(tree.hub, "city-desk").post(
        f"{tree.hub.url}/api/v1/cases", json=body, headers={"Idempotency-Key": "desk-1"},
        timeout=10)
    assert created.status_code == 201, created.text
    case = created.json()
    _decide(tree.hub, "mz-review", "mz-check", case["case_id"])
    pdf = requests.get(f"{tree.hub.url}/windows/cases/{case['case_id']}/result.pdf",
                       headers=_token(tree.hub, "mz-review"), timeout=30)
    assert pdf.status_code == 200
    code = _code_in(pdf.content, Path(tree.dirs["hub"]))
    query = {"acceptance_no": case["acceptance_no"], "code": code}
    relayed = requests.get(f"{tree.village.url}/api/v1/public/verify", params=query,
                           timeout=30)
    assert relayed.status_code == 200, relayed.text
    answer = relayed.json()
    assert answer["checked_by"] == HUB and answer["unaltered"] is True
    assert answer["facts"]["applicant_name"] == "赵*"
    wrong = requests.get(f"{tree.village.url}/api/v1/public/verify", timeout=30,
                         params={**query, "code": "0000-0000-0000-0000"})
    assert wrong.status_code == 404


def _code_in(data: bytes, tmp_path: Path) -> str:
    """The verification code printed on an A4 document (its text layer)."""
    pdf = tmp_path / "a4.pdf"
    pdf.write_bytes(data)
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    flat = "".join(text.split())
    start = flat.index("验证码") + len("验证码")
    return flat[start:start + 19]
