"""The keys a site believes, and why: pinned hub keys, certificates, rotations, revocations.

The caller rebuilds a :class:`KeyRing` at start-up from what it stored (the
pinned hub key, every credential it accepted, the current revocations
release) and adds credentials as they arrive; every addition is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync_protocol.credentials import Certificate, Credential, KeyRotation, Revocation
from sync_protocol.errors import (
    CertificateInvalid,
    KeyRevoked,
    KeyUnknown,
    ProtocolError,
    SignatureInvalid,
)
from sync_protocol.keys import key_id_of, public_key, verify
from sync_protocol.sites import check_site_code

MAX_DEPTH = 16


def adopt(ring: KeyRing, credentials: Iterable[Credential]) -> None:
    """Adopt the credentials a frame carries, in any order; raise the first error of one
    that never checks out (nothing the frame says is believed then)."""
    errors = ring.add_any_order(credentials)
    if errors:
        raise errors[0]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One believed key: whose it is and how far it may still vouch."""

    key_id: bytes
    site: str
    public: Ed25519PublicKey
    anchor: bool
    revoked_through: tuple[int, int] | None = None
    handed_to: bytes | None = None
    """The key this one handed over to by a rotation: it still vouches for the events it
    signed, but authenticates no hop any more and hands over to no other key."""

    @property
    def revoked(self) -> bool:
        return self.revoked_through is not None


class KeyRing:
    """Keys by id, site parents by code, anchored in the pinned hub key(s)."""

    def __init__(self, hub_site: str, hub_public_raw: bytes) -> None:
        self.hub_site = check_site_code(hub_site, "hub_site")
        self._keys: dict[bytes, KeyRecord] = {}
        self._parents: dict[str, str | None] = {hub_site: None}
        self._revocations: dict[bytes, Revocation] = {}
        self._handed: dict[bytes, bytes] = {}
        kid = key_id_of(hub_public_raw)
        self._keys[kid] = KeyRecord(kid, hub_site, public_key(hub_public_raw), anchor=True)

    def copy(self) -> KeyRing:
        """An independent ring with the same keys (records are immutable, so shared)."""
        other = KeyRing.__new__(KeyRing)
        other.hub_site = self.hub_site
        other._keys = dict(self._keys)
        other._parents = dict(self._parents)
        other._revocations = dict(self._revocations)
        other._handed = dict(self._handed)
        return other

    # -- adding -----------------------------------------------------------------
    def add(self, credential: Credential) -> KeyRecord:
        """Check and adopt a certificate or rotation; re-adding one is harmless."""
        if isinstance(credential, Certificate):
            return self._add_certificate(credential)
        return self._add_rotation(credential)

    def add_all(self, credentials: Iterable[Credential]) -> None:
        for credential in credentials:
            self.add(credential)

    def add_any_order(self, credentials: Iterable[Credential]) -> list[ProtocolError]:
        """Adopt what checks out, whatever the order: a site that pinned a later hub key
        meets the hub's rotations before the certificates that vouch back for its earlier
        keys. Passes repeat while one adopts something (at most one per credential); the
        errors of the credentials that never check out are returned, in their order."""
        waiting = list(credentials)
        errors: list[ProtocolError] = []
        for _ in range(len(waiting)):
            errors = []
            still: list[Credential] = []
            for credential in waiting:
                try:
                    self.add(credential)
                except ProtocolError as err:
                    errors.append(err)
                    still.append(credential)
            if not still or len(still) == len(waiting):
                break
            waiting = still
        return errors

    def _add_certificate(self, cert: Certificate) -> KeyRecord:
        issuer = self._keys.get(cert.signature.key_id)
        if issuer is None or not issuer.anchor:
            raise CertificateInvalid("certificate.issuer", "not signed by a hub key")
        if issuer.revoked:
            raise KeyRevoked("certificate.issuer", "the issuing hub key is revoked")
        try:
            verify(issuer.public, cert.signature.value, cert.statement(), field="certificate")
        except SignatureInvalid:
            raise CertificateInvalid("certificate", "hub signature does not verify") from None
        self._parents[cert.site] = cert.parent
        anchor = cert.site == self.hub_site
        return self._adopt(KeyRecord(cert.key_id, cert.site, public_key(cert.public_raw), anchor))

    def _add_rotation(self, rotation: KeyRotation) -> KeyRecord:
        old = self._keys.get(rotation.old_key_id)
        if old is None or old.site != rotation.site:
            raise KeyUnknown("rotation.old_key", "the old key is not known for this site")
        if old.revoked:
            raise KeyRevoked("rotation.old_key", "a revoked key cannot hand over")
        if old.handed_to not in (None, rotation.new_key_id):
            raise CertificateInvalid("rotation.old_key", "the key already handed over to another")
        try:
            verify(old.public, rotation.signature.value, rotation.statement(), field="rotation")
        except SignatureInvalid:
            raise CertificateInvalid("rotation", "old key's signature does not verify") from None
        record = self._adopt(KeyRecord(
            rotation.new_key_id, rotation.site, public_key(rotation.new_public_raw), old.anchor
        ))
        self._handed[old.key_id] = rotation.new_key_id
        self._keys[old.key_id] = replace(self._keys[old.key_id], handed_to=rotation.new_key_id)
        return record

    def _adopt(self, record: KeyRecord) -> KeyRecord:
        handed = self._handed.get(record.key_id)
        if handed is not None:
            record = replace(record, handed_to=handed)
        revocation = self._revocations.get(record.key_id)
        if revocation is not None:
            record = replace(
                record, revoked_through=(revocation.through_epoch, revocation.through_seq)
            )
        existing = self._keys.get(record.key_id)
        if existing is not None:
            if existing.site != record.site:
                raise CertificateInvalid("key", "the same key is claimed by another site")
            return existing
        self._keys[record.key_id] = record
        return record

    def revoke(self, revocations: Iterable[Revocation]) -> None:
        """Apply the entries of a revocations release (they accumulate, never lift)."""
        for entry in revocations:
            self._revocations[entry.key_id] = entry
            record = self._keys.get(entry.key_id)
            if record is not None and record.site == entry.site:
                self._keys[entry.key_id] = replace(
                    record, revoked_through=(entry.through_epoch, entry.through_seq)
                )

    # -- looking up ---------------------------------------------------------------
    def key(self, key_id: bytes, *, site: str | None = None, field: str = "key_id") -> KeyRecord:
        """The record of ``key_id``, which must belong to ``site`` when given."""
        record = self._keys.get(key_id)
        if record is None or (site is not None and record.site != site):
            raise KeyUnknown(field, f"key {key_id.hex()} is not known for {site or 'any site'}")
        return record

    def for_hop(self, key_id: bytes, site: str | None = None) -> KeyRecord:
        """A key allowed to authenticate a request or response (from ``site``) now: neither
        revoked nor handed over to a newer key by a rotation."""
        record = self.key(key_id, site=site, field="frame.key_id")
        if record.revoked:
            raise KeyRevoked("frame.key_id", f"key {key_id.hex()} of {record.site} is revoked")
        if record.handed_to is not None:
            raise KeyRevoked("frame.key_id", f"key {key_id.hex()} of {record.site} was "
                             f"rotated to {record.handed_to.hex()}")
        return record

    def for_event(self, key_id: bytes, origin: str, epoch: int, seq: int) -> KeyRecord:
        """A key allowed to vouch for ``origin``'s chain up to (epoch, seq)."""
        record = self.key(key_id, site=origin, field="signature.key_id")
        if record.revoked_through is not None and (epoch, seq) > record.revoked_through:
            raise KeyRevoked(
                "signature.key_id",
                f"key {key_id.hex()} of {origin} is revoked after "
                f"{record.revoked_through[0]}/{record.revoked_through[1]}",
            )
        return record

    def is_hub_key(self, key_id: bytes) -> bool:
        record = self._keys.get(key_id)
        return record is not None and record.anchor and not record.revoked

    def parent_of(self, site: str) -> str | None:
        return self._parents.get(site)

    def knows_site(self, site: str) -> bool:
        return site in self._parents

    def within(self, site: str, ancestor: str) -> bool:
        """Whether ``site`` is ``ancestor`` or below it, by the certified parents."""
        current: str | None = site
        for _ in range(MAX_DEPTH):
            if current is None:
                return False
            if current == ancestor:
                return True
            current = self._parents.get(current)
        return False
