"""The key files of a rotation: the chain beside the key, what a crash between the steps
leaves and how a second run completes it, and a hub's chain followed from its first key."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.exchange.key_files import signing_key
from shared.exchange.key_rotation import (
    NEXT_SUFFIX,
    chain_path,
    encode_chain,
    read_chain,
    rotate_key_file,
)
from sync_protocol import (
    Certificate,
    KeyRevoked,
    KeyRing,
    KeyRotation,
    LocalProtocolError,
    dump_key,
    issue_certificate,
    load_key,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HUB = "431000"
VILLAGE = "431002001201"


def test_a_node_rotation_keeps_the_chain_beside_the_new_key(tmp_path: Path) -> None:
    old = signing_key(tmp_path, "site.key", VILLAGE)
    path = tmp_path / "site.key"
    assert read_chain(path, old).credentials == ()
    rotated = rotate_key_file(path, VILLAGE, NOW)
    new = load_key(VILLAGE, path.read_bytes())
    assert (rotated.old_key_id, rotated.new_key_id) == (old.key_id, new.key_id)
    assert rotated.count == 1 and len(rotated.added) == 1
    chain = read_chain(path, new)
    assert chain.first_public_raw == old.public_raw
    assert chain.credentials == rotated.added
    rotation = chain.credentials[0]
    assert isinstance(rotation, KeyRotation) and rotation.old_key_id == old.key_id
    for file in (path, chain_path(path)):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert not path.with_name("site.key" + NEXT_SUFFIX).exists()
    again = rotate_key_file(path, VILLAGE, NOW + timedelta(days=1))
    assert again.count == 2 and again.old_key_id == new.key_id
    assert len(read_chain(path, new).credentials) == 2


def test_a_rotation_cut_before_its_last_step_is_completed_by_the_next_run(
    tmp_path: Path,
) -> None:
    old = signing_key(tmp_path, "site.key", VILLAGE)
    path = tmp_path / "site.key"
    rotate_key_file(path, VILLAGE, NOW)
    new_bytes = path.read_bytes()
    # as if the power went after the chain named the new key but before the key file moved
    path.with_name("site.key" + NEXT_SUFFIX).write_bytes(new_bytes)
    os.chmod(path.with_name("site.key" + NEXT_SUFFIX), 0o600)
    path.write_bytes(dump_key(old))
    finished = rotate_key_file(path, VILLAGE, NOW + timedelta(minutes=1))
    assert finished.finished_earlier and finished.count == 1
    assert path.read_bytes() == new_bytes
    # with the new key gone as well, nothing is guessed
    path.write_bytes(dump_key(old))
    with pytest.raises(LocalProtocolError):
        rotate_key_file(path, VILLAGE, NOW + timedelta(minutes=2))


def test_a_missing_key_is_not_rotated(tmp_path: Path) -> None:
    with pytest.raises(LocalProtocolError):
        rotate_key_file(tmp_path / "site.key", VILLAGE, NOW)


def test_a_hub_rotation_vouches_back_so_either_key_may_be_pinned(tmp_path: Path) -> None:
    first = signing_key(tmp_path, "hub.key", HUB)
    path = tmp_path / "hub.key"
    village = signing_key(tmp_path, "v.key", VILLAGE)
    before = issue_certificate(first, site=VILLAGE, parent=None, tier="village",
                               public_raw=village.public_raw, now=NOW)
    rotate_key_file(path, HUB, NOW, vouch_back=True)
    rotate_key_file(path, HUB, NOW + timedelta(days=90), vouch_back=True)
    now_key = load_key(HUB, path.read_bytes())
    chain = read_chain(path, now_key)
    assert [type(c) for c in chain.credentials] == [KeyRotation, Certificate] * 2
    for pinned in (first.public_raw, now_key.public_raw):
        ring = KeyRing(HUB, pinned)
        # the hub's own store: the certificate issued before the rotations comes first
        assert ring.add_any_order([before, *chain.credentials]) == []
        assert ring.key(village.key_id, site=VILLAGE).site == VILLAGE
        with pytest.raises(KeyRevoked):
            ring.for_hop(first.key_id, HUB)
        assert ring.for_hop(now_key.key_id, HUB).anchor


def test_a_chain_file_round_trips(tmp_path: Path) -> None:
    key = signing_key(tmp_path, "site.key", VILLAGE)
    path = tmp_path / "site.key"
    rotate_key_file(path, VILLAGE, NOW)
    chain = read_chain(path, key)
    assert encode_chain(chain) == chain_path(path).read_bytes()
