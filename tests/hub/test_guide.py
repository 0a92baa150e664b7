"""The hub's public service guide and catalogue API, through Flask's test client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hub.app import create_app
from hub.settings import HubSettings
from shared.domain.catalogue_loader import load_sample_catalogue

ITEM_LINK = re.compile(r'href="/guide/[A-Z]{2}-\d{4}"')


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    settings = HubSettings(data_dir=tmp_path, testing=True)
    return create_app(settings).test_client()


def test_guide_lists_every_item_grouped_by_department(client: FlaskClient) -> None:
    count = len(load_sample_catalogue().items)
    page = client.get("/guide").get_data(as_text=True)
    assert "办事指南" in page
    assert f"共 {count} 项" in page
    assert "民政局" in page
    assert len(ITEM_LINK.findall(page)) == count


def test_guide_search_by_pinyin_initials_and_by_code(client: FlaskClient) -> None:
    by_initials = client.get("/guide?q=jhdj").get_data(as_text=True)
    assert "结婚登记" in by_initials
    assert 0 < len(ITEM_LINK.findall(by_initials)) < len(load_sample_catalogue().items)
    nothing = client.get("/guide?q=不存在的事项").get_data(as_text=True)
    assert "没有找到" in nothing


def test_item_page_shows_materials_fees_limits_and_co_approvers(client: FlaskClient) -> None:
    page = client.get("/guide/SJ-0101").get_data(as_text=True)
    assert "联办部门" in page
    assert "申请材料" in page
    assert "承诺办结时限" in page
    assert "个工作日" in page


def test_unknown_item_is_404(client: FlaskClient) -> None:
    assert client.get("/guide/NOPE-1").status_code == 404


def test_catalogue_api_has_the_contract_shape(client: FlaskClient) -> None:
    body = client.get("/api/v1/catalog/items").get_json()
    assert isinstance(body["version"], int)
    item = body["items"][0]
    for key in ("code", "name", "tier", "window", "authority", "kind", "promised_days",
                "legal_days", "materials", "form"):
        assert key in item
    assert {item["authority"] for item in body["items"]} == {
        "decision", "review_report", "preliminary"
    }


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["status"] == "ok"
