"""Key slots: the data keys wrapped per agent under an argon2id key from the password."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from shared.storage.key_slots import (
    SLOTS_FILE,
    SlotError,
    SlotParams,
    account_mark,
    read_slots,
    remove_key_files,
    slot_is_current,
    unwrap_keys,
    wrap_keys,
    write_slots,
)
from shared.storage.sealing import DataKeyHolder, DataKeys, DataLocked, SealedPayloads

SITE = "431002001201"
CHEAP = SlotParams(time_cost=1, memory_kib=1024, parallelism=1)  # the tests' own cost
KEYS = DataKeys(b"c" * 32, (b"a" * 32, b"b" * 32))
MARK = account_mark("$argon2id$v=19$m=65536,t=3,p=4$salt$hash")


def test_a_slot_opens_with_its_password_and_gives_back_every_key() -> None:
    slot = wrap_keys(KEYS, site=SITE, username="agent-1", password="right-password-1",
                     account=MARK, params=CHEAP)
    opened = unwrap_keys(slot, site=SITE, username="agent-1", password="right-password-1")
    assert opened.current == KEYS.current and opened.retired == KEYS.retired
    assert b"c" * 32 not in slot.wrapped and b"a" * 32 not in slot.wrapped


def test_a_wrong_password_is_refused() -> None:
    slot = wrap_keys(KEYS, site=SITE, username="agent-1", password="right-password-1",
                     account=MARK, params=CHEAP)
    with pytest.raises(SlotError):
        unwrap_keys(slot, site=SITE, username="agent-1", password="right-password-2")


def test_a_slot_is_bound_to_its_username_and_site() -> None:
    slot = wrap_keys(KEYS, site=SITE, username="agent-1", password="same-password-1",
                     account=MARK, params=CHEAP)
    with pytest.raises(SlotError):  # copied under another agent's name, same password
        unwrap_keys(slot, site=SITE, username="agent-2", password="same-password-1")
    with pytest.raises(SlotError):  # copied to another village
        unwrap_keys(slot, site="431002001202", username="agent-1", password="same-password-1")


def test_each_slot_has_its_own_salt_and_nonce() -> None:
    one = wrap_keys(KEYS, site=SITE, username="a", password="p" * 12, account=MARK,
                    params=CHEAP)
    two = wrap_keys(KEYS, site=SITE, username="a", password="p" * 12, account=MARK,
                    params=CHEAP)
    assert one.salt != two.salt and one.nonce != two.nonce and one.wrapped != two.wrapped


def test_a_slot_is_stale_after_a_new_key_a_new_password_or_new_costs() -> None:
    slot = wrap_keys(KEYS, site=SITE, username="a", password="p" * 12, account=MARK,
                     params=CHEAP)
    assert slot_is_current(slot, KEYS, MARK, CHEAP)
    assert not slot_is_current(slot, DataKeys(b"d" * 32, (b"c" * 32,)), MARK, CHEAP)
    assert not slot_is_current(slot, KEYS, account_mark("another hash"), CHEAP)
    assert not slot_is_current(slot, KEYS, MARK)  # the default cost is higher


def test_the_slots_file_is_written_atomically_with_mode_0600_and_read_back(
        tmp_path: Path) -> None:
    slot = wrap_keys(KEYS, site=SITE, username="agent-1", password="right-password-1",
                     account=MARK, params=CHEAP)
    path = write_slots(tmp_path, SITE, {"agent-1": slot})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SLOTS_FILE]  # no temporary file left
    assert read_slots(tmp_path, SITE) == {"agent-1": slot}
    with pytest.raises(SlotError):  # another site's file is not taken
        read_slots(tmp_path, "431002001202")


def test_a_write_that_fails_leaves_the_old_file_whole(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = wrap_keys(KEYS, site=SITE, username="agent-1", password="right-password-1",
                      account=MARK, params=CHEAP)
    write_slots(tmp_path, SITE, {"agent-1": first})
    before = (tmp_path / SLOTS_FILE).read_bytes()

    def power_cut(*_: object) -> None:
        raise OSError("power cut before the rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        write_slots(tmp_path, SITE, {"agent-1": first, "agent-2": first})
    assert (tmp_path / SLOTS_FILE).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [SLOTS_FILE]


def test_a_tampered_slot_does_not_open(tmp_path: Path) -> None:
    slot = wrap_keys(KEYS, site=SITE, username="agent-1", password="right-password-1",
                     account=MARK, params=CHEAP)
    write_slots(tmp_path, SITE, {"agent-1": slot})
    data = json.loads((tmp_path / SLOTS_FILE).read_text())
    data["slots"]["agent-1"]["key_ids"] = data["slots"]["agent-1"]["key_ids"][:1]
    (tmp_path / SLOTS_FILE).write_text(json.dumps(data))
    with pytest.raises(SlotError):
        unwrap_keys(read_slots(tmp_path, SITE)["agent-1"], site=SITE, username="agent-1",
                    password="right-password-1")


def test_removing_the_key_files_leaves_no_key_bytes(tmp_path: Path) -> None:
    (tmp_path / "data.key").write_bytes(b"k" * 32)
    (tmp_path / "data-1.key").write_bytes(b"o" * 32)
    (tmp_path / "site.key").write_bytes(b"s" * 32)
    assert remove_key_files(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.key"]


def test_a_sealer_given_an_empty_holder_refuses_until_it_is_filled() -> None:
    holder = DataKeyHolder()
    sealer = SealedPayloads(holder)
    with pytest.raises(DataLocked):
        sealer.seal({"a": 1}, "event:x:1:1")
    holder.fill(KEYS)
    assert sealer.open(sealer.seal({"a": 1}, "event:x:1:1"), "event:x:1:1") == {"a": 1}
