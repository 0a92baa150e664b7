"""``sanji node rotate-data-key``: a new data key seals from then on, and everything sealed
before still opens, with the key in a file or only in the agents' key slots."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from node.cli import node_group
from node.sealing import DataSealer
from node.settings import NodeSettings
from shared.storage.key_slots import (
    account_mark,
    read_slots,
    remove_key_files,
    unwrap_keys,
    wrap_keys,
    write_slots,
)
from shared.storage.sealing import (
    DataKeyHolder,
    ScanSealer,
    SealedPayloads,
    SealedRecords,
    load_data_keys,
)

SITE = "431002001201"
PASSWORD = "agent-pass-2026"


def _init(tmp_path: Path) -> Path:
    data_dir = tmp_path / "village"
    result = CliRunner().invoke(node_group, ["init", "--data-dir", str(data_dir),
                                             "--site-code", SITE, "--name", "吉村代办点"])
    assert result.exit_code == 0, result.output
    return data_dir


def _sealed_before(holder: DataKeyHolder) -> dict[str, bytes]:
    return {"node": DataSealer(holder).seal({"id": "1"}, "applicant:1"),
            "payload": SealedPayloads(holder).seal({"id": "2"}, "event:a:1:1"),
            "record": SealedRecords(holder).seal(b"history", "state:link_history")}


def _all_open(sealed: dict[str, bytes], holder: DataKeyHolder) -> None:
    assert DataSealer(holder).open(sealed["node"], "applicant:1") == {"id": "1"}
    assert SealedPayloads(holder).open(sealed["payload"], "event:a:1:1") == {"id": "2"}
    assert SealedRecords(holder).open(sealed["record"], "state:link_history") == b"history"


def test_with_the_key_in_a_file_the_old_key_is_kept_beside_the_new(tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    keys_dir = data_dir / "keys"
    before = load_data_keys(keys_dir)
    sealed = _sealed_before(DataKeyHolder(before))
    result = CliRunner().invoke(node_group, ["rotate-data-key", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    after = load_data_keys(keys_dir)
    assert after.current != before.current and after.retired == (before.current,)
    assert sorted(p.name for p in keys_dir.glob("data*.key")) == ["data-1.key", "data.key"]
    _all_open(sealed, DataKeyHolder(after))
    assert ScanSealer(DataKeyHolder(after)).key_id == after.current_id  # new scans: new key
    CliRunner().invoke(node_group, ["rotate-data-key", "--data-dir", str(data_dir)])
    assert len(load_data_keys(keys_dir).retired) == 2  # and again: both old keys kept


def test_with_the_key_in_slots_the_agents_slot_holds_the_new_keys_and_the_others_go(
        tmp_path: Path) -> None:
    data_dir = _init(tmp_path)
    config = json.loads((data_dir / "node.json").read_text())
    config["parent_url"] = "http://127.0.0.1:9"  # enrolled: the key lives in the slots
    (data_dir / "node.json").write_text(json.dumps(config))
    settings = NodeSettings.load(data_dir)
    assert settings.key_in_slots
    before = load_data_keys(settings.key_dir)
    sealed = _sealed_before(DataKeyHolder(before))
    mark = account_mark("$argon2id$hash")
    write_slots(settings.key_dir, SITE, {
        name: wrap_keys(before, site=SITE, username=name, password=PASSWORD, account=mark)
        for name in ("agent-1", "agent-2")})
    remove_key_files(settings.key_dir)
    refused = CliRunner().invoke(node_group, ["rotate-data-key", "--data-dir", str(data_dir)],
                                 env={"SANJI_USERNAME": "", "SANJI_PASSWORD": ""})
    assert refused.exit_code != 0 and "--username" in refused.output
    wrong = CliRunner().invoke(node_group, ["rotate-data-key", "--data-dir", str(data_dir),
                                            "--username", "agent-1"], input="wrong-pass\n",
                               env={"SANJI_PASSWORD": ""})
    assert wrong.exit_code == 1 and "not rotated" in wrong.output
    result = CliRunner().invoke(node_group, ["rotate-data-key", "--data-dir", str(data_dir),
                                             "--username", "agent-1"], input=PASSWORD + "\n",
                                env={"SANJI_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    assert "agent-2" in result.output  # dropped: its slot held the old keys only
    slots = read_slots(settings.key_dir, SITE)
    assert set(slots) == {"agent-1"}
    after = unwrap_keys(slots["agent-1"], site=SITE, username="agent-1", password=PASSWORD)
    assert after.current != before.current and after.retired == (before.current,)
    assert list(settings.key_dir.glob("data*.key")) == []  # still no key file
    _all_open(sealed, DataKeyHolder(after))


def test_init_again_makes_no_new_key_beside_the_slots_and_a_stray_key_stops_the_node(
        tmp_path: Path) -> None:
    import pytest
    from sqlalchemy.orm import sessionmaker

    from node.data_key import NodeDataKey
    from shared.storage.key_slots import SlotError

    data_dir = _init(tmp_path)
    config = json.loads((data_dir / "node.json").read_text())
    config["parent_url"] = "http://127.0.0.1:9"
    (data_dir / "node.json").write_text(json.dumps(config))
    settings = NodeSettings.load(data_dir)
    before = load_data_keys(settings.key_dir)
    write_slots(settings.key_dir, SITE, {"agent-1": wrap_keys(
        before, site=SITE, username="agent-1", password=PASSWORD, account="m")})
    remove_key_files(settings.key_dir)
    again = CliRunner().invoke(node_group, ["init", "--data-dir", str(data_dir),
                                            "--site-code", SITE, "--name", "吉村代办点"])
    assert again.exit_code == 0, again.output
    assert list(settings.key_dir.glob("data*.key")) == []  # a new key would orphan the data
    assert NodeDataKey(settings, sessionmaker()).locked
    (settings.key_dir / "data.key").write_bytes(b"n" * 32)  # a key from elsewhere
    with pytest.raises(SlotError):
        NodeDataKey(settings, sessionmaker())
