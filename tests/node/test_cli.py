"""``sanji node init`` and ``sanji node run`` for real: a data directory, a served node."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from node.cli import node_group
from node.settings import NodeSettings
from shared.domain.errors import InvalidInput
from tests.node.conftest import case_body, init_node

ROOT = Path(__file__).resolve().parents[2]


def test_init_makes_a_private_data_dir_and_is_rerunnable(tmp_path: Path) -> None:
    data_dir = tmp_path / "n"
    settings = init_node(data_dir)
    assert settings.site_code == "431002001201"
    assert stat.S_IMODE(os.stat(data_dir / "keys" / "data.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert (data_dir / "node.sqlite").is_file()
    assert json.loads((data_dir / "node.json").read_text())["tier"] == "village"
    key = (data_dir / "keys" / "data.key").read_bytes()
    init_node(data_dir)  # again: the key and the settings are kept
    assert (data_dir / "keys" / "data.key").read_bytes() == key


def test_init_refuses_a_bad_site_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        node_group,
        ["init", "--data-dir", str(tmp_path / "n"), "--site-code", "43100A", "--name", "x"],
    )
    assert result.exit_code != 0
    assert "must contain only digits" in result.output


def test_init_keeps_the_parents_tls_trust_and_the_settings_name_it(tmp_path: Path) -> None:
    ca = tmp_path / "government-ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    data_dir = tmp_path / "n"
    result = CliRunner().invoke(node_group, [
        "init", "--data-dir", str(data_dir), "--site-code", "431002001201", "--name", "吉村",
        "--parent-ca-file", str(ca)])
    assert result.exit_code == 0, result.output
    assert (data_dir / "parent-ca.pem").read_bytes() == ca.read_bytes()
    assert json.loads((data_dir / "node.json").read_text())["parent_ca_file"] == "parent-ca.pem"
    settings = NodeSettings.load(data_dir)
    assert settings.parent_tls_verify == str(data_dir / "parent-ca.pem")
    (data_dir / "parent-ca.pem").unlink()
    with pytest.raises(InvalidInput, match="parent_ca_file"):
        _ = NodeSettings.load(data_dir).parent_tls_verify
    assert init_node(tmp_path / "plain").parent_tls_verify is True  # the trust store


@pytest.mark.integration
def test_run_serves_the_node_over_http(tmp_path: Path) -> None:
    data_dir = tmp_path / "n"
    init_node(data_dir)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sanji_cli import main; main()",
            "node",
            "run",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = ""
        while "serving on" not in line:  # readline returns "" if the process dies
            line = process.stdout.readline()
            assert line, "the node exited before serving"
        base = line.strip().split("serving on ", 1)[1].rstrip("/")
        health = requests.get(f"{base}/healthz", timeout=10)
        assert health.json()["site"] == "431002001201"
        created = requests.post(
            f"{base}/api/v1/cases",
            json=case_body(),
            headers={"Idempotency-Key": "cli-1"},
            timeout=10,
        )
        assert created.status_code == 201
        assert created.json()["acceptance_no"].startswith("431002001201-")
    finally:
        process.terminate()
        process.wait(timeout=10)
