"""A village's data key from ``data.key`` into its agents' slots, and back into memory after a
restart (:class:`node.data_key.NodeDataKey` on a real node database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from node.cli import node_group
from node.data_key import NodeDataKey
from node.settings import NodeSettings
from shared.storage.accounts import UserAccount, add_user, set_active, set_password
from shared.storage.db import make_engine
from shared.storage.key_slots import SlotParams, read_slots
from shared.storage.sealing import DataLocked, SealedPayloads, load_data_keys

SITE = "431002001201"
CHEAP = SlotParams(time_cost=1, memory_kib=1024, parallelism=1)
PASSWORDS = {"agent-1": "agent-one-pass-1", "agent-2": "agent-two-pass-2"}


@pytest.fixture
def village(tmp_path: Path) -> Iterator[tuple[NodeSettings, sessionmaker[Session]]]:
    data_dir = tmp_path / "village"
    done = CliRunner().invoke(node_group, ["init", "--data-dir", str(data_dir),
                                           "--site-code", SITE, "--name", "吉村代办点"])
    assert done.exit_code == 0, done.output
    config = json.loads((data_dir / "node.json").read_text())
    config["parent_url"] = "http://127.0.0.1:9"  # enrolled: its agents sign in
    (data_dir / "node.json").write_text(json.dumps(config))
    settings = NodeSettings.load(data_dir)
    engine = make_engine(settings.database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        for name, password in PASSWORDS.items():
            add_user(session, username=name, password=password, role="agent", site=SITE,
                     now=datetime.now(UTC))
        session.commit()
    yield settings, sessions
    engine.dispose()


def _account(sessions: sessionmaker[Session], name: str) -> UserAccount:
    with sessions() as session:
        found = session.get(UserAccount, name)
        assert found is not None
        return found


def test_the_first_sign_in_moves_the_key_into_a_slot_and_off_the_disk(
        village: tuple[NodeSettings, sessionmaker[Session]]) -> None:
    settings, sessions = village
    key = load_data_keys(settings.key_dir).current
    node = NodeDataKey(settings, sessions, CHEAP)
    assert not node.locked
    node.signed_in(_account(sessions, "agent-1"), PASSWORDS["agent-1"])
    assert list(settings.key_dir.glob("data*.key")) == []
    assert set(read_slots(settings.key_dir, SITE)) == {"agent-1"}
    assert node.holder.keys().current == key  # the running process keeps it


def test_a_restart_is_locked_until_an_agent_with_a_slot_signs_in(
        village: tuple[NodeSettings, sessionmaker[Session]]) -> None:
    settings, sessions = village
    first = NodeDataKey(settings, sessions, CHEAP)
    sealed = SealedPayloads(first.holder).seal({"n": 1}, "event:x:1:1")
    first.signed_in(_account(sessions, "agent-1"), PASSWORDS["agent-1"])

    restarted = NodeDataKey(settings, sessions, CHEAP)
    opened: list[str] = []
    restarted.when_unlocked(lambda: opened.append("unlocked"))
    payloads = SealedPayloads(restarted.holder)
    assert restarted.locked
    with pytest.raises(DataLocked):
        payloads.open(sealed, "event:x:1:1")
    restarted.signed_in(_account(sessions, "agent-2"), PASSWORDS["agent-2"])  # no slot
    assert restarted.locked and opened == []
    assert set(read_slots(settings.key_dir, SITE)) == {"agent-1"}
    restarted.signed_in(_account(sessions, "agent-1"), PASSWORDS["agent-1"])
    assert not restarted.locked and opened == ["unlocked"]
    assert payloads.open(sealed, "event:x:1:1") == {"n": 1}
    restarted.signed_in(_account(sessions, "agent-2"), PASSWORDS["agent-2"])
    assert set(read_slots(settings.key_dir, SITE)) == {"agent-1", "agent-2"}


def test_a_new_password_makes_the_slot_again_and_a_disabled_agents_slot_goes(
        village: tuple[NodeSettings, sessionmaker[Session]]) -> None:
    settings, sessions = village
    node = NodeDataKey(settings, sessions, CHEAP)
    for name, password in PASSWORDS.items():
        node.signed_in(_account(sessions, name), password)
    before = read_slots(settings.key_dir, SITE)["agent-1"]
    with sessions() as session:
        set_password(session, "agent-1", "agent-one-new-pass")
        set_active(session, "agent-2", False)
        session.commit()
    node.signed_in(_account(sessions, "agent-1"), "agent-one-new-pass")
    slots = read_slots(settings.key_dir, SITE)
    assert set(slots) == {"agent-1"} and slots["agent-1"] != before
    restarted = NodeDataKey(settings, sessions, CHEAP)
    restarted.signed_in(_account(sessions, "agent-1"), "agent-one-new-pass")
    assert not restarted.locked


def test_a_node_in_file_mode_never_makes_a_slot(
        village: tuple[NodeSettings, sessionmaker[Session]]) -> None:
    settings, sessions = village
    config = json.loads((settings.data_dir / "node.json").read_text())
    config["data_key_protection"] = "file"
    (settings.data_dir / "node.json").write_text(json.dumps(config))
    node = NodeDataKey(NodeSettings.load(settings.data_dir), sessions, CHEAP)
    node.signed_in(_account(sessions, "agent-1"), PASSWORDS["agent-1"])
    assert (settings.key_dir / "data.key").exists()
    assert read_slots(settings.key_dir, SITE) == {}
