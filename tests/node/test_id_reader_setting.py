"""A node reads no ID card unless it is configured to: the simulated reader, which fills the
form with a made-up person, is the demo's alone."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from hub.demo import _use_simulated_id_reader
from node.app import create_app
from node.id_reader import NoReader, SimulatedReader
from node.settings import NodeSettings
from tests.node.conftest import init_node, node_services


def test_a_new_node_has_no_reader(settings: NodeSettings, app: Flask) -> None:
    assert settings.id_reader == "none"
    assert "id_reader" in settings.to_file_dict()
    assert isinstance(node_services(app).reader, NoReader)


def test_the_read_card_button_of_a_new_node_says_there_is_no_reader(
    client: FlaskClient,
) -> None:
    data = {"idempotency_key": "k-1", "applicant.kind": "person", "applicant.name": "",
            "applicant.id_number": "", "action": "read_card"}
    page = client.post("/intake/MZ-0305", data=data).get_data(as_text=True)
    assert "本机没有身份证读卡器" in page
    assert "431002198001010017" not in page  # no made-up person


def test_the_demo_turns_the_simulated_reader_on(tmp_path: Path) -> None:
    data_dir = tmp_path / "village"
    init_node(data_dir)
    _use_simulated_id_reader(data_dir)
    settings = NodeSettings.load(data_dir)
    assert settings.id_reader == "simulated"
    assert isinstance(node_services(create_app(settings)).reader, SimulatedReader)
