"""A site's signing key over time: ``sanji hub rotate-key`` and ``sanji node rotate-key``.

A rotation makes a new key and a statement, signed by the old key, that hands the site's
authority to the new one (``sync_protocol.rotate_key``). The hub adds a certificate of its
old key signed by the new one, so that a site that pinned a later hub key still checks what
the earlier keys signed (releases, receipts, the hub's own events). Every such credential
is kept in the key's *chain file* next to the key (``<key file>.chain``, mode 0600):

    [1, first public key, [credential, ...]]

The first public key is what the hub pins in its own keyring (every certificate it issued
before rotating is signed by an earlier key); the credentials are what the site presents
about itself (``own_credentials``) and what the exchange hands on. A site that never
rotated has no chain file.

The steps are ordered so that a crash leaves a state a second run completes: the new key
is written beside the old one (``<key file>.next``), then the chain names it, then it
replaces the key file. Until the last step the site still signs with the old key; a second
``rotate-key`` sees the chain ahead of the key file and finishes the replacement.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from shared.storage import sync_store as store
from shared.storage.private_files import fsync_dir, replace_private, write_private
from sync_protocol import (
    Credential,
    KeyRotation,
    SiteKey,
    dump_key,
    generate_key,
    issue_certificate,
    load_key,
    rotate_key,
)
from sync_protocol.canonical import decode, encode
from sync_protocol.credentials import credential_from_wire
from sync_protocol.errors import LocalProtocolError, Malformed
from sync_protocol.fields import as_bytes, as_int, as_list

CHAIN_SUFFIX = ".chain"
NEXT_SUFFIX = ".next"
CHAIN_VERSION = 1
MAX_CHAIN = 64
"""Credentials a chain file holds: 32 rotations of a hub (two each), far beyond any need."""
HUB_TIER = "city"


@dataclass(frozen=True, slots=True)
class KeyChain:
    """A site key's history: its first public key and the credentials since."""

    first_public_raw: bytes
    credentials: tuple[Credential, ...] = ()

    @property
    def rotations(self) -> tuple[KeyRotation, ...]:
        return tuple(c for c in self.credentials if isinstance(c, KeyRotation))

    @property
    def current_key_id(self) -> bytes | None:
        """The key the last rotation handed over to (None: never rotated)."""
        return self.rotations[-1].new_key_id if self.rotations else None


@dataclass(frozen=True, slots=True)
class Rotated:
    """What a rotation did."""

    site: str
    old_key_id: bytes
    new_key_id: bytes
    added: tuple[Credential, ...]
    key_path: Path
    chain_path: Path
    count: int
    """Rotations in the chain now (1 after the first)."""
    finished_earlier: bool = False
    """A rotation interrupted before its last step was completed instead of a new one."""


def chain_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + CHAIN_SUFFIX)


def read_chain(key_path: Path, key: SiteKey) -> KeyChain:
    """The chain of the key in ``key_path`` (``key`` is that key: a site that never rotated
    has no chain file, its first key is its key)."""
    path = chain_path(key_path)
    if not path.exists():
        return KeyChain(key.public_raw)
    return decode_chain(path.read_bytes())


def decode_chain(data: bytes) -> KeyChain:
    items = as_list(decode(data, field="chain", max_size=1 << 20), "chain", max_len=3)
    if len(items) != 3 or as_int(items[0], "chain.version") != CHAIN_VERSION:
        raise Malformed("chain", f"expected a version {CHAIN_VERSION} chain of 3 elements")
    return KeyChain(
        as_bytes(items[1], "chain.first_key", size=32),
        tuple(credential_from_wire(c, "chain.credential")
              for c in as_list(items[2], "chain.credentials", max_len=MAX_CHAIN)),
    )


def encode_chain(chain: KeyChain) -> bytes:
    return encode([CHAIN_VERSION, chain.first_public_raw,
                   [c.to_wire() for c in chain.credentials]])


def rotate_key_file(key_path: Path, site: str, now: datetime, *,
                    vouch_back: bool = False) -> Rotated:
    """Rotate the key in ``key_path``: a new key, the rotation signed by the old one (and,
    with ``vouch_back``, as the hub does, a certificate of the old key signed by the new),
    kept in the chain file; the new key replaces the old in ``key_path``."""
    if not key_path.exists():
        raise LocalProtocolError("key", f"{key_path} does not exist: nothing to rotate")
    old = load_key(site, key_path.read_bytes())
    chain = read_chain(key_path, old)
    following = key_path.with_name(key_path.name + NEXT_SUFFIX)
    ahead = chain.current_key_id
    if ahead is not None and ahead != old.key_id:
        # a rotation that stopped before its last step: finish it
        if not following.exists():
            raise LocalProtocolError("key", f"the chain names key {ahead.hex()} but neither "
                                     f"{key_path.name} nor {following.name} holds it")
        new = load_key(site, following.read_bytes())
        if new.key_id != ahead:
            raise LocalProtocolError("key", f"{following.name} is not the key the chain names")
        os.replace(following, key_path)
        fsync_dir(key_path.parent)
        last = chain.rotations[-1]
        tail = chain.credentials[chain.credentials.index(last):]
        return Rotated(site, last.old_key_id, new.key_id, tail, key_path,
                       chain_path(key_path), len(chain.rotations), finished_earlier=True)
    if len(chain.credentials) + 2 > MAX_CHAIN:
        raise LocalProtocolError("chain", f"the chain holds {MAX_CHAIN} credentials already")
    new = generate_key(site)
    added: tuple[Credential, ...] = (rotate_key(old, new, now=now),)
    if vouch_back:
        added += (issue_certificate(new, site=site, parent=None, tier=HUB_TIER,
                                    public_raw=old.public_raw, now=now),)
    write_private(following, dump_key(new))
    fsync_dir(key_path.parent)
    grown = KeyChain(chain.first_public_raw, (*chain.credentials, *added))
    replace_private(chain_path(key_path), encode_chain(grown))
    os.replace(following, key_path)
    fsync_dir(key_path.parent)
    return Rotated(site, old.key_id, new.key_id, added, key_path, chain_path(key_path),
                   len(grown.rotations))


def record_rotation(session: Session, credentials: Sequence[Credential], *,
                    forward: bool) -> int:
    """Keep the site's own rotation credentials with the others it holds: its keyring
    follows them, a relay hands them on, and ``forward`` (a node) sends them to the parent
    with the next request. Returns how many were new."""
    return store.add_credentials(session, credentials, forward=forward)
