"""The hub's signing key (``keys/hub.key``, mode 0600 in a 0700 directory) and the secret
behind its API tokens (``keys/token.secret``). Made by ``sanji hub init``; the hub key signs
certificates, releases, receipts and the hub's own events, and every node pins it."""

from __future__ import annotations

import os
from pathlib import Path

from shared.accounts import TOKEN_SECRET_FILE, load_or_create_secret
from sync_protocol import SiteKey, dump_key, generate_key, load_key

HUB_KEY_FILE = "hub.key"


def hub_key(key_dir: Path, site: str) -> SiteKey:
    """The hub's key, made on first use."""
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    path = key_dir / HUB_KEY_FILE
    if path.exists():
        return load_key(site, path.read_bytes())
    key = generate_key(site)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(dump_key(key))
        handle.flush()
        os.fsync(handle.fileno())
    return key


def token_secret(key_dir: Path) -> bytes:
    return load_or_create_secret(key_dir / TOKEN_SECRET_FILE)
