"""``sanji hub rotate-key`` on SQLite and PostgreSQL: the new key, the chain beside it and in
the hub's credentials, and the hub's keyring still believing what the first key certified;
a re-enrolment revokes every key a rotated site held."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cbor2
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cli import hub_group
from hub.identity import HUB_KEY_FILE
from hub.key_rotation import keys_since
from hub.releases import HubRelease
from hub.settings import HubSettings
from hub.sites import add_site, enrol, issue_code
from node.cli import node_group
from shared.exchange.enrolment import request_bytes
from shared.exchange.key_rotation import read_chain
from shared.storage import sync_store as store
from shared.storage.db import make_engine
from sync_protocol import (
    Certificate,
    KeyRevoked,
    KeyRotation,
    generate_key,
    issue_certificate,
    load_key,
    rotate_key,
)
from sync_protocol.credentials import revocation_from_wire

HUB = "431000"
VILLAGE = "431002001201"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    args = ["init", "--data-dir", str(tmp_path / "hub")]
    if request.param == "postgresql":
        args += ["--database-url", str(request.getfixturevalue("pg_schema_url"))]
    result = CliRunner().invoke(hub_group, args)
    assert result.exit_code == 0, result.output
    return tmp_path / "hub"


def test_rotate_key_keeps_the_chain_and_what_the_first_key_certified(hub_dir: Path) -> None:
    settings = HubSettings.load(hub_dir)
    key_path = settings.key_dir / HUB_KEY_FILE
    first = load_key(HUB, key_path.read_bytes())
    village = generate_key(VILLAGE)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:  # a site enrolled before the rotation
        store.add_credentials(session, [issue_certificate(
            first, site=VILLAGE, parent=HUB, tier="village", public_raw=village.public_raw,
            now=datetime.now(UTC))], forward=False)
        session.commit()

    result = CliRunner().invoke(hub_group, ["rotate-key", "--data-dir", str(hub_dir)])
    assert result.exit_code == 0, result.output
    second = load_key(HUB, key_path.read_bytes())
    assert f"{first.key_id.hex()} -> {second.key_id.hex()} (rotation 1)" in result.output
    assert "back up" in result.output and "hub.key.chain" in result.output
    again = CliRunner().invoke(hub_group, ["rotate-key", "--data-dir", str(hub_dir)])
    assert again.exit_code == 0, again.output
    third = load_key(HUB, key_path.read_bytes())
    assert "(rotation 2)" in again.output

    chain = read_chain(key_path, third)
    assert chain.first_public_raw == first.public_raw
    assert [type(c) for c in chain.credentials] == [KeyRotation, Certificate] * 2
    with Session(engine) as session:
        held = store.all_credentials(session)
        assert held[1:] == list(chain.credentials)  # kept with the hub's credentials
        # the hub pins the key it signs with now and still believes the first key's work
        ring = store.build_keyring(session, HUB, third.public_raw)
    engine.dispose()
    assert ring.key(village.key_id, site=VILLAGE).site == VILLAGE
    for old in (first, second):
        assert ring.is_hub_key(old.key_id)
        with pytest.raises(KeyRevoked):
            ring.for_hop(old.key_id, HUB)


def test_a_node_that_is_not_enrolled_does_not_rotate(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    made = CliRunner().invoke(node_group, ["init", "--data-dir", str(data_dir), "--site-code",
                                           VILLAGE, "--name", "吉村代办点"])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(node_group, ["rotate-key", "--data-dir", str(data_dir)])
    assert result.exit_code != 0
    assert "not enrolled" in result.output


def test_re_enrolling_a_rotated_site_revokes_every_key_it_rotated_to(hub_dir: Path) -> None:
    settings = HubSettings.load(hub_dir)
    hub_key = load_key(HUB, (settings.key_dir / HUB_KEY_FILE).read_bytes())
    now = datetime.now(UTC)
    township = "431002001"
    first = generate_key(township)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        issued = add_site(session, code=township, name="良田镇", tier="township", parent=HUB,
                          now=now)
        enrol(session, hub_key, request_bytes(first, issued.code, now), releases=[], now=now)
        second, third = generate_key(township), generate_key(township)
        store.add_credentials(session, [rotate_key(first, second, now=now),
                                        rotate_key(second, third, now=now)], forward=False)
        assert keys_since(session, township, first.key_id) == [
            first.key_id, second.key_id, third.key_id]
        # the PC is replaced: every key the site held is revoked, the new one is not
        again = issue_code(session, township, now=now)
        replacement = generate_key(township)
        enrol(session, hub_key, request_bytes(replacement, again.code, now), releases=[],
              now=now)
        session.commit()
        newest = session.scalars(select(HubRelease).where(HubRelease.kind == "revocations")
                                 .order_by(HubRelease.version.desc())).first()
        assert newest is not None
        revoked = {r.key_id for r in (revocation_from_wire(v)
                                      for v in cbor2.loads(newest.content))}
    engine.dispose()
    assert revoked == {first.key_id, second.key_id, third.key_id}
