"""``data_key_protection``: a village keeps its data key in its agents' slots by default, a
township or county in ``keys/data.key``; a node nobody signs in to keeps the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import node_group
from node.local_sync import local_url, proof, proof_holds
from node.settings import NodeSettings
from shared.domain.errors import InvalidInput


def _settings(tmp_path: Path, **kwargs: object) -> NodeSettings:
    base: dict[str, object] = {"data_dir": tmp_path, "site_code": "431002001201",
                               "site_name": "吉村代办点", "tier": "village"}
    return NodeSettings(**{**base, **kwargs})  # type: ignore[arg-type]


def test_the_default_follows_the_tier(tmp_path: Path) -> None:
    assert _settings(tmp_path).data_key_protection == "password"
    township = _settings(tmp_path, site_code="431002001", tier="township")
    assert township.data_key_protection == "file"
    assert _settings(tmp_path, data_key_protection="file").data_key_protection == "file"
    with pytest.raises(InvalidInput):
        _settings(tmp_path, data_key_protection="none")


def test_only_an_enrolled_node_whose_users_sign_in_keeps_the_key_in_slots(
        tmp_path: Path) -> None:
    assert not _settings(tmp_path).key_in_slots  # no parent: nobody signs in
    enrolled = _settings(tmp_path, parent_url="http://127.0.0.1:8001")
    assert enrolled.key_in_slots
    assert not _settings(tmp_path, parent_url="http://127.0.0.1:8001",
                         require_sign_in=False).key_in_slots
    assert not _settings(tmp_path, parent_url="http://127.0.0.1:8001",
                         data_key_protection="file").key_in_slots


def test_init_writes_the_chosen_protection(tmp_path: Path) -> None:
    for choice, expected in ((None, "password"), ("file", "file")):
        data_dir = tmp_path / str(choice)
        args = ["init", "--data-dir", str(data_dir), "--site-code", "431002001201",
                "--name", "吉村代办点"]
        result = CliRunner().invoke(
            node_group, args + (["--data-key-protection", choice] if choice else []))
        assert result.exit_code == 0, result.output
        stored = json.loads((data_dir / "node.json").read_text())
        assert stored["data_key_protection"] == expected
        assert (data_dir / "keys" / "data.key").exists()  # slots come with the first sign-in


def test_sync_now_proves_itself_with_the_token_secret_and_a_fresh_time() -> None:
    made = proof(b"s" * 32, 1_000_000)
    assert proof_holds(b"s" * 32, made, 1_000_060)
    assert not proof_holds(b"s" * 32, made, 1_000_200)  # stale
    assert not proof_holds(b"t" * 32, made, 1_000_000)  # another secret
    assert not proof_holds(b"s" * 32, "1000000." + "0" * 64, 1_000_000)
    assert local_url("0.0.0.0", 8100) == "http://127.0.0.1:8100"
    assert local_url("::", 8100) == "http://[::1]:8100"
    assert local_url("10.1.2.3", 8100) == "http://10.1.2.3:8100"
