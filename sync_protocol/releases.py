"""Signed, versioned releases from the hub: catalogue, working-day calendar, revocations.

Versions never go back: an older version, or another content under a version
already accepted, is refused (``release_rollback``). Each release expires: one
that arrives expired is refused (``release_expired``), and a site whose
release in force has expired knows it is frozen (someone may be withholding
newer ones) while it keeps working on that last good release. A release may
take effect on a future date; until then the previous one stays in force.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sync_protocol import statements
from sync_protocol.canonical import decode, encode
from sync_protocol.credentials import Revocation, revocation_from_wire
from sync_protocol.errors import (
    KeyUnknown,
    Malformed,
    ReleaseExpired,
    ReleaseRollback,
)
from sync_protocol.fields import as_bytes, as_int, as_list, as_str
from sync_protocol.keyring import KeyRing
from sync_protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, Signature, SiteKey, verify
from sync_protocol.times import from_ms, to_ms

KINDS = ("catalogue", "calendar", "revocations")
MAX_CONTENT = 8 << 20


@dataclass(frozen=True, slots=True)
class Release:
    """One signed release; ``content`` is opaque here (the domain defines it),
    except for ``revocations`` whose content is a CBOR array of revocation entries."""

    kind: str
    version: int
    effective_from: datetime
    expires_at: datetime
    content: bytes = field(repr=False)
    signature: Signature

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.content).digest()

    def statement(self) -> bytes:
        return encode([statements.RELEASE, self.kind, self.version, to_ms(self.effective_from),
                       to_ms(self.expires_at), self.digest])

    def to_wire(self) -> list[object]:
        return [self.kind, self.version, to_ms(self.effective_from), to_ms(self.expires_at),
                self.content, self.signature.key_id, self.signature.value]


def sign_release(hub_key: SiteKey, *, kind: str, version: int, content: bytes,
                 effective_from: datetime, expires_at: datetime) -> Release:
    """Publish a release (run at the hub)."""
    if kind not in KINDS:
        raise Malformed("release.kind", f"{kind!r} is not one of {KINDS}")
    unsigned = Release(kind, version, from_ms(to_ms(effective_from)),
                       from_ms(to_ms(expires_at)), content, Signature(bytes(8), bytes(64)))
    return Release(unsigned.kind, version, unsigned.effective_from, unsigned.expires_at,
                   content, hub_key.sign(unsigned.statement()))


def revocations_content(entries: Sequence[Revocation]) -> bytes:
    """The content of a revocations release: every revocation so far (they accumulate)."""
    return encode([e.to_wire() for e in entries])


def revocations_in(release: Release) -> list[Revocation]:
    if release.kind != "revocations":
        raise Malformed("release.kind", "not a revocations release")
    items = as_list(decode(release.content, field="release.content", max_size=MAX_CONTENT),
                    "release.content", max_len=1_000_000)
    return [revocation_from_wire(v) for v in items]


def release_from_wire(value: object, field: str = "release") -> Release:
    items = as_list(value, field, max_len=7)
    if len(items) != 7:
        raise Malformed(field, "expected 7 elements")
    kind = as_str(items[0], f"{field}.kind", max_len=20)
    if kind not in KINDS:
        raise Malformed(f"{field}.kind", f"unknown kind {kind!r}")
    return Release(
        kind,
        as_int(items[1], f"{field}.version", lo=1),
        from_ms(as_int(items[2], f"{field}.effective_from")),
        from_ms(as_int(items[3], f"{field}.expires_at")),
        as_bytes(items[4], f"{field}.content", max_len=MAX_CONTENT),
        Signature(as_bytes(items[5], f"{field}.key_id", size=KEY_ID_SIZE),
                  as_bytes(items[6], f"{field}.signature", size=SIGNATURE_SIZE)),
    )


@dataclass(frozen=True, slots=True)
class ReleaseInfo:
    """What a site remembers of an accepted release (it stores the content itself)."""

    kind: str
    version: int
    digest: bytes
    effective_from: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseLedger:
    """Accepted releases per kind: the one in force and any that start later.

    Part of a site's durable state; bounded because releases superseded by a
    newer one in force are dropped.
    """

    by_kind: Mapping[str, tuple[ReleaseInfo, ...]] = field(default_factory=dict)

    def versions(self) -> dict[str, int]:
        return {k: v[-1].version for k, v in self.by_kind.items() if v}

    def in_force(self, kind: str, now: datetime) -> ReleaseInfo | None:
        """The newest accepted release of ``kind`` whose effective date has come."""
        current = [r for r in self.by_kind.get(kind, ()) if r.effective_from <= now]
        return current[-1] if current else None

    def frozen(self, kind: str, now: datetime) -> bool:
        """True when the release in force has expired: keep working, raise an alarm."""
        info = self.in_force(kind, now)
        return info is not None and info.expires_at <= now

    def accept(self, release: Release, keyring: KeyRing, now: datetime) -> ReleaseLedger:
        """Check a release and return the ledger with it (unchanged for a repeat)."""
        if not keyring.is_hub_key(release.signature.key_id):
            raise KeyUnknown("release.key_id", "releases are signed by the hub key only")
        record = keyring.key(release.signature.key_id)
        verify(record.public, release.signature.value, release.statement(),
               field="release.signature")
        known = self.by_kind.get(release.kind, ())
        if known:
            top = known[-1]
            if release.version < top.version:
                raise ReleaseRollback("release.version",
                                      f"{release.version} is older than {top.version}")
            if release.version == top.version:
                if release.digest != top.digest:
                    raise ReleaseRollback("release.version",
                                          "another content under an accepted version")
                return self
        if release.expires_at <= now:
            raise ReleaseExpired("release.expires_at", "arrived after its expiry")
        info = ReleaseInfo(release.kind, release.version, release.digest,
                           release.effective_from, release.expires_at)
        entries = [*known, info]
        in_force = [r for r in entries if r.effective_from <= now]
        if in_force:
            newest = in_force[-1]
            entries = [r for r in entries if r is newest or r.version > newest.version]
        by_kind = dict(self.by_kind)
        by_kind[release.kind] = tuple(entries)
        return ReleaseLedger(by_kind)


def ledger_to_wire(ledger: ReleaseLedger) -> list[object]:
    """For storing the ledger (e.g. in a settings row) as deterministic CBOR."""
    return [[r.kind, r.version, r.digest, to_ms(r.effective_from), to_ms(r.expires_at)]
            for infos in ledger.by_kind.values() for r in infos]


def ledger_from_wire(value: object) -> ReleaseLedger:
    by_kind: dict[str, list[ReleaseInfo]] = {}
    for item in as_list(value, "ledger", max_len=10_000):
        r = as_list(item, "ledger.entry", max_len=5)
        if len(r) != 5:
            raise Malformed("ledger.entry", "expected 5 elements")
        info = ReleaseInfo(as_str(r[0], "ledger.kind"), as_int(r[1], "ledger.version"),
                           as_bytes(r[2], "ledger.digest", size=32),
                           from_ms(as_int(r[3], "ledger.effective_from")),
                           from_ms(as_int(r[4], "ledger.expires_at")))
        by_kind.setdefault(info.kind, []).append(info)
    return ReleaseLedger({k: tuple(sorted(v, key=lambda i: i.version))
                          for k, v in by_kind.items()})
