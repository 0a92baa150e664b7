"""Fixtures for the node: a data directory made by the real ``sanji node init``, an app on
it, a test client, and a clock the test can move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from node.app import create_app
from node.cli import node_group
from node.services import NodeServices
from node.settings import NodeSettings
from tests.shared.web.form_client import FormClient

SITE = "431002001201"
# Valid resident ID numbers (GB 11643 check characters).
ID_WANG = "431002198001010017"
ID_LI = "431002197503150023"
ID_ZHAO = "431002199006200033"


def init_node(data_dir: Path, site_code: str = SITE, name: str = "吉村代办点") -> NodeSettings:
    result = CliRunner().invoke(
        node_group,
        [
            "init",
            "--data-dir",
            str(data_dir),
            "--site-code",
            site_code,
            "--name",
            name,
            "--tier",
            "village",
            "--public-base-url",
            "http://status.example",
        ],
    )
    assert result.exit_code == 0, result.output
    return replace(NodeSettings.load(data_dir), testing=True)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def settings(tmp_path: Path) -> NodeSettings:
    return init_node(tmp_path / "node")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 3, 2, 30, tzinfo=UTC))  # 10:30 in Shanghai, a Monday


@pytest.fixture
def app(settings: NodeSettings, clock: Clock) -> Iterator[Flask]:
    app = create_app(settings)
    app.test_client_class = FormClient
    node_services(app).clock = clock
    yield app


def node_services(app: Flask) -> NodeServices:
    found: NodeServices = app.extensions["sanji_node"]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def person(
    name: str = "王𠮷祥", id_number: str = ID_WANG, phone: str = "13800138000"
) -> dict[str, Any]:
    return {"name": name, "id_number": id_number, "phone": phone}


def temporary_assistance_form() -> dict[str, Any]:
    """A valid form for MZ-0305 (临时救助申请), decided at the township."""
    return {
        "hardship_type": "emergency",
        "hardship_date": "2025-02-20",
        "amount_requested": "3000.00",
        "description": "家中房屋因暴雨受损,急需修缮资金。",
        "bank_account": "6217001234567890123",
    }


def case_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "item_code": "MZ-0305",
        "applicant": person(),
        "form": temporary_assistance_form(),
        "delivery": "village",
    }
    body.update(overrides)
    return body


def post_case(client: FlaskClient, body: dict[str, Any], key: str = "k-1") -> Any:
    return client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
