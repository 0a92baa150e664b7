"""Ed25519 keys of sites: generation, loading, key ids, signing and checking.

A key id is the first 8 bytes of SHA-256 over ``b"sanji/key-id/1" + raw public
key``; it names a key on the wire so that a receiver looks it up instead of
receiving it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sync_protocol.errors import LocalProtocolError, Malformed, SignatureInvalid

KEY_ID_SIZE = 8
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def key_id_of(public_raw: bytes) -> bytes:
    """The 8-byte id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(b"sanji/key-id/1" + public_raw).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True, slots=True)
class Signature:
    """An Ed25519 signature and the id of the key that made it."""

    key_id: bytes
    value: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_SIZE or len(self.value) != SIGNATURE_SIZE:
            raise Malformed("signature", "key id must be 8 bytes and signature 64")


@dataclass(frozen=True, slots=True)
class SiteKey:
    """A site's private signing key (keep it in the site's data dir, mode 0600)."""

    site: str
    private: Ed25519PrivateKey = field(repr=False)
    public_raw: bytes = field(init=False, repr=False, compare=False)
    key_id: bytes = field(init=False, repr=False, compare=False)
    """Both derived once: a hub signs every event it authors, thousands a second."""

    def __post_init__(self) -> None:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        object.__setattr__(self, "public_raw", raw)
        object.__setattr__(self, "key_id", key_id_of(raw))

    def sign(self, message: bytes) -> Signature:
        return Signature(self.key_id, self.private.sign(message))


def generate_key(site: str) -> SiteKey:
    """A fresh key for ``site``."""
    return SiteKey(site, Ed25519PrivateKey.generate())


def dump_key(key: SiteKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM, for the site's key file."""
    return key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(site: str, data: bytes) -> SiteKey:
    """Load a key from PKCS#8 PEM (as :func:`dump_key` writes) or a raw 32-byte seed."""
    if len(data) == 32:
        return SiteKey(site, Ed25519PrivateKey.from_private_bytes(data))
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise LocalProtocolError("key", f"not a PEM private key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise LocalProtocolError("key", "not an Ed25519 key")
    return SiteKey(site, private)


def public_key(raw: bytes) -> Ed25519PublicKey:
    """Parse a raw public key; bad bytes are ``Malformed``."""
    if len(raw) != PUBLIC_KEY_SIZE:
        raise Malformed("public_key", "expected 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise Malformed("public_key", "not an Ed25519 point") from None


def verify(public: Ed25519PublicKey, signature: bytes, message: bytes, *, field: str) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` signs ``message``."""
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise SignatureInvalid(field, "does not verify") from None
