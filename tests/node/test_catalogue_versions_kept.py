"""A node keeps every catalogue release it takes, by version, and prunes only the oldest
ones beyond the bound that no open case uses."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from node import db_session
from node.catalogue_store import (
    VERSIONS_DIR,
    HeldCatalogue,
    held_versions,
    prune_kept,
    versions_in_use,
)
from node.db_session import app_session
from node.models import NodeCase, NodeWindowCase
from shared.domain.catalogue_loader import load_sample_catalogue
from shared.domain.catalogue_versions import MAX_HELD
from shared.domain.release_content import catalogue_release_content
from tests.node.conftest import PNG, case_body, node_services, post_case

SAMPLE = Path(__file__).parents[2] / "shared" / "domain" / "data" / "sample_catalogue.yaml"


def _content(version: int) -> bytes:
    text = SAMPLE.read_text(encoding="utf-8").replace("version: 1\n", f"version: {version}\n", 1)
    return catalogue_release_content(text, "yaml")[1]


def test_each_release_taken_is_kept_and_read_by_version(tmp_path: Path) -> None:
    held = HeldCatalogue(tmp_path)
    assert held.version(1) is not None  # the sample it offers before any release came
    assert held.oldest() is held.current()
    for version in (2, 3, 4):
        held.replace(_content(version))
    assert held.current().version == 4
    assert held_versions(tmp_path) == [2, 3, 4]
    older = held.version(2)
    assert older is not None and older.version == 2
    assert held.version(1) is not None and held.version(1) == load_sample_catalogue()
    assert held.version(9) is None
    oldest = held.oldest()
    assert oldest is not None and oldest.version == 2
    assert json.loads((tmp_path / VERSIONS_DIR / "3.json").read_bytes())["version"] == 3


def test_pruning_keeps_what_open_cases_use_and_the_newest(tmp_path: Path) -> None:
    held = HeldCatalogue(tmp_path)
    for version in range(2, 8):
        held.replace(_content(version))
    assert held.prune(in_use={2, 4}, keep=3) == [3, 5, 6]
    assert held_versions(tmp_path) == [2, 4, 7]
    assert held.version(3) is None and held.version(4) is not None


def test_a_release_taken_prunes_only_what_no_open_window_case_uses(app: Flask) -> None:
    settings = node_services(app).settings
    held = node_services(app).held_catalogue
    with app_session(app) as session:  # rows as the projection writes them
        for n, (version, is_open) in enumerate([(2, 1), (3, 0), (None, 1), (5, 1)]):
            session.add(NodeWindowCase(
                case_id=uuid.uuid4(), acceptance_no=f"A-{n}", origin="431002001201",
                item_code="MZ-0305", kind="promised", window="W-MZ-11",
                owner_site=settings.site_code, state="accepted", stage="at_window",
                open=is_open, registered_ms=0, updated_ms=0, catalogue_version=version))
        session.commit()
    for version in range(2, 2 + MAX_HELD + 3):
        held.replace(_content(version))
    with app_session(app) as session:
        # None: the oldest kept, 2; the sample's 1: the village's own case (not handed over)
        assert versions_in_use(session, settings.data_dir) == {2, 5}
    assert prune_kept(held, db_session.session_factory(app)) == [3, 4, 6]
    assert len(held_versions(settings.data_dir)) == MAX_HELD


def test_a_case_registered_here_keeps_its_release_until_it_is_handed_over(
    app: Flask, client: FlaskClient
) -> None:
    held = node_services(app).held_catalogue
    held.replace(_content(2))
    case_id = post_case(client, case_body(), key="v2").get_json()["case_id"]
    for version in range(3, 3 + MAX_HELD + 1):
        held.replace(_content(version))
    sessions = db_session.session_factory(app)
    assert prune_kept(held, sessions) == [3, 4]  # 2..15 kept: two too many, 2 in use
    assert held.version(2) is not None
    with app_session(app) as session:
        session.execute(update(NodeCase).where(NodeCase.case_id == uuid.UUID(case_id))
                        .values(stage="handed_over"))
        session.commit()
    held.replace(_content(4 + MAX_HELD))
    assert prune_kept(held, sessions) == [2]


INCOME = ("      - {code: INCOME_PROOF, name: {zh: 家庭收入情况说明, "
          "en: Statement of household income}, required: true}\n")
BANK = "      - {code: BANK_STATEMENT, name: {zh: 银行流水, en: Bank statement}}\n"


def test_a_village_case_page_reads_the_item_of_the_release_it_was_accepted_under(
    app: Flask, client: FlaskClient
) -> None:
    older = post_case(client, case_body(), key="under-v1").get_json()["case_id"]
    text = SAMPLE.read_text(encoding="utf-8").replace("version: 1\n", "version: 2\n", 1)
    assert text.count(INCOME) == 1
    node_services(app).held_catalogue.replace(
        catalogue_release_content(text.replace(INCOME, INCOME + BANK), "yaml")[1])
    newer = post_case(client, case_body(), key="under-v2").get_json()["case_id"]
    old_page = client.get(f"/cases/{older}").get_data(as_text=True)
    new_page = client.get(f"/cases/{newer}").get_data(as_text=True)
    assert 'id="catalogue-version">v1<' in old_page
    assert 'id="catalogue-version">v2<' in new_page
    assert 'value="BANK_STATEMENT"' not in old_page  # v1 asks no bank statement
    assert 'value="BANK_STATEMENT"' in new_page
    for case_id, status in ((newer, 303), (older, 400)):  # a material of the case's item only
        sent = client.post(f"/cases/{case_id}/materials", data={
            "material_code": "BANK_STATEMENT", "file": (io.BytesIO(PNG), "bank.png")})
        assert sent.status_code == status, sent.get_data(as_text=True)[:300]
