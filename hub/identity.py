"""The hub's signing key (``keys/hub.key``, mode 0600 in a 0700 directory) and the secret
behind its API tokens (``keys/token.secret``). Made by ``sanji hub init``; the hub key signs
certificates, releases, receipts and the hub's own events, and every node pins it.

The data key (``keys/data.key``) seals event payloads and scans at rest
(:mod:`shared.storage.sealing`); ``sanji hub init`` makes it, and a hub upgraded from a release
without one makes it when it first starts (then seals what it held in clear)."""

from __future__ import annotations

from pathlib import Path

from shared.exchange.key_files import signing_key
from shared.storage.accounts import TOKEN_SECRET_FILE, load_or_create_secret
from shared.storage.sealing import DataKeys, create_data_key, load_data_keys
from sync_protocol import SiteKey

HUB_KEY_FILE = "hub.key"


def hub_key(key_dir: Path, site: str) -> SiteKey:
    """The hub's key, made on first use."""
    return signing_key(key_dir, HUB_KEY_FILE, site)


def data_keys(key_dir: Path) -> DataKeys:
    """The hub's data keys (the current one made on first use)."""
    create_data_key(key_dir)
    return load_data_keys(key_dir)


def token_secret(key_dir: Path) -> bytes:
    return load_or_create_secret(key_dir / TOKEN_SECRET_FILE)
