"""证照库 across the tree, each site its own process over real HTTP: the township decides an
individual business's registration (SJ-0205), whose approval issues the business licence; the
result travels up and the hub's store records it against the applicant's ID number. Later, at
the village, the agent asks the store for a human-resources licence (RS-3301, which asks for a
business licence): the question is relayed village → township → hub, the licence is offered
(to this person only), the agent's page marks it 证照库已有, the case is registered with it by
reference and the applicant's consent, the hub trusts it at ingest and its day report counts
it. Without consent the registration is refused; with the township down the village says the
store cannot be asked."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import HubMaterialReuse
from hub.settings import HubSettings
from shared.storage.db import make_engine
from tests.integration.city import TOWNSHIP, Tree, city
from tests.integration.test_depth_four import APPLICANT, _register, _work
from tests.integration.test_three_tiers import supervisor_token

ISSUING = ("SJ-0205", {"business_scope": "日用百货零售", "business_address": "良田镇新街8号"})
LATER_ITEM = "RS-3301"
LATER_FORM = {"enterprise_name": "郴州市良田人力资源服务部", "uscc": "91110000710925462X",
              "service_scope": "职业介绍、人力资源信息咨询"}
OTHER_ID = "431002199005050029"
WINDOW = "W-SJ-11"


def _held(tree: Tree, id_number: str, item: str = LATER_ITEM) -> requests.Response:
    return tree.agent().post(f"{tree.village.url}/api/v1/certificates/held", timeout=30,
                             json={"id_number": id_number, "item_code": item})


def _apply(tree: Tree, key: str, **extra: Any) -> requests.Response:
    return tree.agent().post(f"{tree.village.url}/api/v1/cases", timeout=10,
                             headers={"Idempotency-Key": key},
                             json={"item_code": LATER_ITEM, "applicant": APPLICANT,
                                   "form": LATER_FORM, "delivery": "village", **extra})


def _reuses_at_hub(tree: Tree) -> list[tuple[str, str, int, str | None]]:
    engine = make_engine(HubSettings.load(tree.dirs["hub"]).database_url)
    with Session(engine) as session:
        found = [(str(r.case_id), r.material_code, r.trusted, r.reason)
                 for r in session.scalars(select(HubMaterialReuse))]
    engine.dispose()
    return found


def test_a_licence_issued_at_the_township_is_reused_at_the_village_and_counted(
        tmp_path: Path) -> None:
    with city(tmp_path, {TOWNSHIP: [("sj-1", WINDOW), ("sj-2", WINDOW)]}, depth=3) as tree:
        issuing = _register(tree, "licence", ISSUING)
        tree.sync("village")
        _work(tree.township.url, WINDOW, issuing, ("sj-1", "sj-2"))
        tree.settle()

        # asked at the village, answered by the hub through the township
        answer = _held(tree, APPLICANT["id_number"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["Cache-Control"] == "no-store"
        body = answer.json()
        assert body["answered_by"] == "431000"
        (licence,) = body["held"]
        assert (licence["material_code"], licence["source"]) == ("BUSINESS_LICENCE", "issued")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        expected = (today.replace(year=today.year + 20) - timedelta(days=1)).isoformat()
        assert licence["valid_until"] == expected  # the day before the 20th anniversary
        assert _held(tree, OTHER_ID).json()["held"] == []  # another person: nothing
        assert _held(tree, APPLICANT["id_number"], "SJ-0205").json()["held"] == []
        anonymous = requests.post(f"{tree.village.url}/api/v1/certificates/held", timeout=10,
                                  json={"id_number": APPLICANT["id_number"],
                                        "item_code": LATER_ITEM})
        assert anonymous.status_code == 401

        # the agent's page: the button asks the store, the licence is marked and ticked
        page = tree.agent().post(f"{tree.village.url}/intake/{LATER_ITEM}", timeout=30, data={
            "action": "find_held", "idempotency_key": "page-1", "applicant.kind": "person",
            "applicant.name": APPLICANT["name"], "applicant.id_number": APPLICANT["id_number"],
            "applicant.phone": APPLICANT["phone"]})
        assert page.status_code == 200, page.text
        assert 'id="held-BUSINESS_LICENCE"' in page.text and "证照库已有" in page.text
        assert f'name="reuse.BUSINESS_LICENCE" value="{licence["ref"]}" checked' in page.text
        assert 'name="reuse_consent"' in page.text

        reuse = [{"material_code": "BUSINESS_LICENCE", "ref": licence["ref"]}]
        refused = _apply(tree, "no-consent", reuse=reuse)
        assert refused.status_code == 400
        assert "reuse_consent" in refused.json()["error"]["fields"]
        created = _apply(tree, "with-consent", reuse=reuse, reuse_consent=True)
        assert created.status_code == 201, created.text
        later = created.json()["case_id"]
        case_page = tree.agent().get(f"{tree.village.url}/cases/{later}", timeout=10).text
        assert 'class="reused"' in case_page and "证照库调取" in case_page
        as_json = tree.agent().get(f"{tree.village.url}/api/v1/cases/{later}", timeout=10).json()
        assert as_json["reused_materials"] == ["BUSINESS_LICENCE"]
        tree.settle()

        assert _reuses_at_hub(tree) == [(later, "BUSINESS_LICENCE", 1, None)]
        report = requests.get(f"{tree.hub.url}/api/v1/reports/day", timeout=10,
                              params={"date": today.isoformat()},
                              headers=supervisor_token(tree)).json()
        (row,) = [r for r in report["rows"] if r["window"] == "W-RS-01"]
        assert row["received"] == 1 and row["materials_reused"] == 1

        # the link is down: the village says so, and the page asks for the papers
        tree.township.stop()
        down = _held(tree, APPLICANT["id_number"])
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "unavailable" and down.headers["Retry-After"]
        page = tree.agent().post(f"{tree.village.url}/intake/{LATER_ITEM}", timeout=30, data={
            "action": "find_held", "idempotency_key": "page-2", "applicant.kind": "person",
            "applicant.name": APPLICANT["name"], "applicant.id_number": APPLICANT["id_number"],
            "applicant.phone": APPLICANT["phone"]})
        assert page.status_code == 200 and "证照库暂时无法查询" in page.text
