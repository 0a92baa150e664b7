"""Signed releases: versions never go back, expiry shows a freeze, effective dates wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync_protocol import (
    KeyUnknown,
    Release,
    ReleaseExpired,
    ReleaseLedger,
    ReleaseRollback,
    SignatureInvalid,
    generate_key,
    sign_release,
)
from sync_protocol.releases import ledger_from_wire, ledger_to_wire
from tests.sync_protocol.tree import T0, Tree

DAY = timedelta(days=1)


def release(tree: Tree, version: int, content: bytes = b"items", start: int = 0,
            days: int = 30, kind: str = "catalogue") -> Release:
    return sign_release(tree.hub_key, kind=kind, version=version, content=content,
                        effective_from=T0 + start * DAY, expires_at=T0 + days * DAY)


def test_newer_versions_are_accepted_and_older_or_conflicting_refused(tree: Tree) -> None:
    ring = tree.keyring()
    ledger = ReleaseLedger().accept(release(tree, 2), ring, T0)
    ledger = ledger.accept(release(tree, 3), ring, T0)
    assert ledger.versions() == {"catalogue": 3}
    assert ledger.accept(release(tree, 3), ring, T0) is ledger  # a repeat changes nothing
    with pytest.raises(ReleaseRollback):
        ledger.accept(release(tree, 2), ring, T0)
    with pytest.raises(ReleaseRollback):
        ledger.accept(release(tree, 3, content=b"other"), ring, T0)


def test_a_future_release_waits_for_its_date(tree: Tree) -> None:
    ring = tree.keyring()
    ledger = ReleaseLedger().accept(release(tree, 1, kind="calendar"), ring, T0)
    ledger = ledger.accept(release(tree, 2, kind="calendar", start=10), ring, T0)
    assert ledger.in_force("calendar", T0 + DAY).version == 1  # type: ignore[union-attr]
    assert ledger.in_force("calendar", T0 + 10 * DAY).version == 2  # type: ignore[union-attr]
    assert ledger_from_wire(ledger_to_wire(ledger)) == ledger


def test_expired_releases_are_refused_and_a_frozen_site_knows(tree: Tree) -> None:
    ring = tree.keyring()
    with pytest.raises(ReleaseExpired):
        ReleaseLedger().accept(release(tree, 1, days=2), ring, T0 + 3 * DAY)
    ledger = ReleaseLedger().accept(release(tree, 1, days=2), ring, T0)
    assert not ledger.frozen("catalogue", T0 + DAY)
    assert ledger.frozen("catalogue", T0 + 3 * DAY)
    assert ledger.in_force("catalogue", T0 + 3 * DAY) is not None  # keeps working on it


def test_only_the_hub_signs_releases(tree: Tree) -> None:
    ring = tree.keyring()
    rogue = sign_release(tree.keys["431000001"], kind="catalogue", version=9, content=b"x",
                         effective_from=T0, expires_at=T0 + DAY)
    with pytest.raises(KeyUnknown):
        ReleaseLedger().accept(rogue, ring, T0)
    impostor = generate_key("431000")
    forged = sign_release(impostor, kind="catalogue", version=9, content=b"x",
                          effective_from=T0, expires_at=T0 + DAY)
    with pytest.raises(KeyUnknown):
        ReleaseLedger().accept(forged, ring, T0)
    good = release(tree, 1)
    tampered = type(good)(good.kind, good.version, good.effective_from, good.expires_at,
                          b"tampered", good.signature)
    with pytest.raises(SignatureInvalid):
        ReleaseLedger().accept(tampered, ring, T0)
