"""``sanji node init --parent-url --enroll-code`` through a township relay, over real HTTP.

The hub end here is a small Flask app built on the same ``shared.exchange.enrolment.grant`` the hub
uses; the township is the real node app served by werkzeug; the village runs the real CLI.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from node.app import create_app
from node.cli import node_group
from node.settings import NodeSettings
from shared.domain.release_content import catalogue_release_content
from shared.exchange.enrolment import SiteFacts, decode_grant, grant, read_request
from sync_protocol import CertificateInvalid, generate_key, sign_release

HUB = "431000"
TOWNSHIP = "431002001"
VILLAGE = "431002001201"
CODE = f"{VILLAGE}.K7Q2M9XD4TPL"
SITES = {
    VILLAGE: SiteFacts(VILLAGE, "吉村代办点", "village", TOWNSHIP),
    TOWNSHIP: SiteFacts(TOWNSHIP, "良田镇便民服务中心", "township", HUB),
}


def serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def hub() -> Iterator[tuple[str, bytes]]:
    hub_key = generate_key(HUB)
    text = (files("shared.domain") / "data" / "sample_catalogue.yaml").read_bytes()
    _, content = catalogue_release_content(text, "yaml")
    now = datetime.now(UTC)
    release = sign_release(
        hub_key,
        kind="catalogue",
        version=1,
        content=content,
        effective_from=now - timedelta(days=1),
        expires_at=now + timedelta(days=365),
    )
    codes = {VILLAGE: CODE, TOWNSHIP: f"{TOWNSHIP}.TOWNSHIPCODE1"}
    app = Flask("hub")

    @app.post("/api/v1/enrol")
    def enrol_view() -> Response | tuple[dict[str, object], int]:
        req = read_request(request.get_data())
        try:
            _, data = grant(
                req,
                codes.pop(req.site, "-"),
                hub_key=hub_key,
                site=SITES[req.site],
                releases=[release],
                users=[],
                now=datetime.now(UTC),
            )
        except CertificateInvalid as exc:
            return {"error": {"code": exc.code, "message": exc.reason, "fields": {}}}, 403
        return Response(data, mimetype="application/cbor")

    server, thread = serve(app)
    yield f"http://127.0.0.1:{server.server_port}", hub_key.public_raw
    server.shutdown()
    thread.join(timeout=10)


def township_node(tmp_path: Path, hub_url: str) -> Iterator[str]:
    data_dir = tmp_path / "township"
    result = CliRunner().invoke(
        node_group,
        [
            "init",
            "--data-dir",
            str(data_dir),
            "--parent-url",
            hub_url,
            "--enroll-code",
            f"{TOWNSHIP}.TOWNSHIPCODE1",
        ],
    )
    assert result.exit_code == 0, result.output
    server, thread = serve(create_app(NodeSettings.load(data_dir)))
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_village_enrols_through_its_township_and_pins_the_hub_key(
    tmp_path: Path, hub: tuple[str, bytes]
) -> None:
    hub_url, hub_public = hub
    township = township_node(tmp_path, hub_url)
    township_url = next(township)
    try:
        village_dir = tmp_path / "village"
        result = CliRunner().invoke(
            node_group,
            [
                "init",
                "--data-dir",
                str(village_dir),
                "--parent-url",
                township_url,
                "--enroll-code",
                CODE,
            ],
        )
        assert result.exit_code == 0, result.output
        assert "enrolled 431002001201 吉村代办点 (village) under 431002001" in result.output
        assert "catalogue v1 received" in result.output
        settings = json.loads((village_dir / "node.json").read_text())
        assert settings["site_code"] == VILLAGE
        assert settings["parent_url"] == township_url
        assert settings["parent_code"] == TOWNSHIP
        assert settings["hub_code"] == HUB
        key_file = village_dir / "keys" / "site.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((village_dir / "keys").stat().st_mode) == 0o700
        assert (village_dir / "keys" / "hub.pub").read_bytes() == hub_public
        granted = decode_grant((village_dir / "grant.cbor").read_bytes())
        assert granted.certificate.site == VILLAGE
        assert (village_dir / "catalogue.json").is_file()

        again = CliRunner().invoke(
            node_group,
            [
                "init",
                "--data-dir",
                str(tmp_path / "other"),
                "--parent-url",
                township_url,
                "--enroll-code",
                CODE,
            ],
        )
        assert again.exit_code == 1
        assert "enrolment refused (certificate_invalid)" in again.output
    finally:
        next(township, None)


def test_an_unreachable_parent_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        node_group,
        [
            "init",
            "--data-dir",
            str(tmp_path / "v"),
            "--parent-url",
            "http://127.0.0.1:9",
            "--enroll-code",
            CODE,
        ],
    )
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output
    assert not (tmp_path / "v" / "node.json").exists()


def test_parent_url_and_code_go_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        node_group,
        [
            "init",
            "--data-dir",
            str(tmp_path / "v"),
            "--enroll-code",
            CODE,
        ],
    )
    assert result.exit_code == 2
    assert "go together" in result.output
