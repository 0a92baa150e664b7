"""Certificates, key rotations, revocations and enrolment proofs.

The hub's public key is pinned at install. The hub certifies each site's key at
enrolment; a site rotates by signing its new key with the old one; the hub
revokes a key through the revocations release, naming the last (epoch, seq) of
the site's chain that the key may still vouch for, so that earlier events stay
valid and nothing later is believed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sync_protocol import statements
from sync_protocol.canonical import encode
from sync_protocol.errors import CertificateInvalid, Malformed
from sync_protocol.fields import as_bytes, as_int, as_list, as_str
from sync_protocol.keys import (
    KEY_ID_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    Signature,
    SiteKey,
    key_id_of,
)
from sync_protocol.sites import check_site_code, check_tier
from sync_protocol.times import from_ms, to_ms


@dataclass(frozen=True, slots=True)
class Certificate:
    """The hub's statement that ``public_raw`` is the key of ``site`` under ``parent``."""

    site: str
    parent: str | None
    tier: str
    public_raw: bytes
    issued_at: datetime
    signature: Signature

    @property
    def key_id(self) -> bytes:
        return key_id_of(self.public_raw)

    def statement(self) -> bytes:
        return certificate_statement(
            self.site, self.parent, self.tier, self.public_raw, to_ms(self.issued_at),
            self.signature.key_id,
        )

    def to_wire(self) -> list[object]:
        return [0, self.site, self.parent, self.tier, self.public_raw,
                to_ms(self.issued_at), self.signature.key_id, self.signature.value]


def certificate_statement(
    site: str, parent: str | None, tier: str, public_raw: bytes, issued_ms: int, issuer: bytes
) -> bytes:
    return encode([statements.CERTIFICATE, site, parent, tier, public_raw, issued_ms, issuer])


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """A site's new key, signed by its previous key."""

    site: str
    new_public_raw: bytes
    at: datetime
    signature: Signature

    @property
    def old_key_id(self) -> bytes:
        return self.signature.key_id

    @property
    def new_key_id(self) -> bytes:
        return key_id_of(self.new_public_raw)

    def statement(self) -> bytes:
        return rotation_statement(
            self.site, self.signature.key_id, self.new_public_raw, to_ms(self.at)
        )

    def to_wire(self) -> list[object]:
        return [1, self.site, self.new_public_raw, to_ms(self.at),
                self.signature.key_id, self.signature.value]


def rotation_statement(site: str, old_key_id: bytes, new_public: bytes, at_ms: int) -> bytes:
    return encode([statements.ROTATION, site, old_key_id, new_public, at_ms])


Credential = Certificate | KeyRotation


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocations release.

    Events of ``site`` signed by ``key_id`` stay valid up to and including
    ``(through_epoch, through_seq)`` of its chain; the key authenticates nothing new.
    """

    key_id: bytes
    site: str
    through_epoch: int
    through_seq: int

    def to_wire(self) -> list[object]:
        return [self.key_id, self.site, self.through_epoch, self.through_seq]


def issue_certificate(
    hub_key: SiteKey, *, site: str, parent: str | None, tier: str, public_raw: bytes,
    now: datetime,
) -> Certificate:
    """Certify ``public_raw`` as ``site``'s key (run at the hub)."""
    check_site_code(site, "site")
    if parent is not None:
        check_site_code(parent, "parent")
    check_tier(tier)
    issued = from_ms(to_ms(now))
    sig = hub_key.sign(certificate_statement(
        site, parent, tier, public_raw, to_ms(issued), hub_key.key_id
    ))
    return Certificate(site, parent, tier, public_raw, issued, sig)


def rotate_key(old: SiteKey, new: SiteKey, *, now: datetime) -> KeyRotation:
    """The statement that hands ``old``'s authority to ``new``."""
    at = from_ms(to_ms(now))
    sig = old.sign(rotation_statement(old.site, old.key_id, new.public_raw, to_ms(at)))
    return KeyRotation(old.site, new.public_raw, at, sig)


def credential_from_wire(value: object, field: str = "credential") -> Credential:
    """Decode a certificate or rotation; nothing is trusted until a KeyRing checks it."""
    items = as_list(value, field, max_len=8)
    if not items:
        raise Malformed(field, "empty")
    kind = as_int(items[0], f"{field}.kind", hi=1)
    try:
        if kind == 0:
            _, site, parent, tier, pub, issued, issuer, sig = items
            return Certificate(
                check_site_code(as_str(site, f"{field}.site"), f"{field}.site"),
                None if parent is None
                else check_site_code(as_str(parent, f"{field}.parent"), f"{field}.parent"),
                check_tier(as_str(tier, f"{field}.tier")),
                as_bytes(pub, f"{field}.public", size=PUBLIC_KEY_SIZE),
                from_ms(as_int(issued, f"{field}.issued_at")),
                Signature(as_bytes(issuer, f"{field}.issuer", size=KEY_ID_SIZE),
                          as_bytes(sig, f"{field}.signature", size=SIGNATURE_SIZE)),
            )
        _, site, pub, at, old, sig = items
    except ValueError:
        raise Malformed(field, "wrong number of elements") from None
    return KeyRotation(
        check_site_code(as_str(site, f"{field}.site"), f"{field}.site"),
        as_bytes(pub, f"{field}.public", size=PUBLIC_KEY_SIZE),
        from_ms(as_int(at, f"{field}.at")),
        Signature(as_bytes(old, f"{field}.old_key", size=KEY_ID_SIZE),
                  as_bytes(sig, f"{field}.signature", size=SIGNATURE_SIZE)),
    )


def revocation_from_wire(value: object, field: str = "revocation") -> Revocation:
    items = as_list(value, field, max_len=4)
    if len(items) != 4:
        raise Malformed(field, "expected 4 elements")
    return Revocation(
        as_bytes(items[0], f"{field}.key_id", size=KEY_ID_SIZE),
        check_site_code(as_str(items[1], f"{field}.site"), f"{field}.site"),
        as_int(items[2], f"{field}.through_epoch"),
        as_int(items[3], f"{field}.through_seq"),
    )


@dataclass(frozen=True, slots=True)
class EnrolmentRequest:
    """A new site's public key with proof that it holds the one-time code.

    The code itself never travels: ``proof`` is HMAC-SHA256 keyed by the code
    over the enrolment statement, so a captured request cannot enrol another key.
    """

    site: str
    public_raw: bytes
    at: datetime
    proof: bytes

    def to_wire(self) -> list[object]:
        return [self.site, self.public_raw, to_ms(self.at), self.proof]


def _enrolment_statement(site: str, public_raw: bytes, at_ms: int) -> bytes:
    return encode([statements.ENROLMENT, site, public_raw, at_ms])


def enrolment_request(key: SiteKey, code: str, *, now: datetime) -> EnrolmentRequest:
    """What ``sanji node init --enroll-code`` sends to the hub."""
    at_ms = to_ms(now)
    mac = hmac.new(code.encode(), _enrolment_statement(key.site, key.public_raw, at_ms),
                   hashlib.sha256).digest()
    return EnrolmentRequest(key.site, key.public_raw, from_ms(at_ms), mac)


def enrolment_from_wire(value: object) -> EnrolmentRequest:
    items = as_list(value, "enrolment", max_len=4)
    if len(items) != 4:
        raise Malformed("enrolment", "expected 4 elements")
    return EnrolmentRequest(
        check_site_code(as_str(items[0], "enrolment.site"), "enrolment.site"),
        as_bytes(items[1], "enrolment.public", size=PUBLIC_KEY_SIZE),
        from_ms(as_int(items[2], "enrolment.at")),
        as_bytes(items[3], "enrolment.proof", size=32),
    )


def check_enrolment(request: EnrolmentRequest, code: str) -> None:
    """Raise :class:`CertificateInvalid` unless the request proves knowledge of ``code``."""
    expected = hmac.new(
        code.encode(),
        _enrolment_statement(request.site, request.public_raw, to_ms(request.at)),
        hashlib.sha256,
    ).digest()
    if not hmac.compare_digest(expected, request.proof):
        raise CertificateInvalid("enrolment.proof", "does not match the enrolment code")
